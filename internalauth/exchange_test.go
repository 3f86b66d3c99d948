package internalauth

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jeeves4service/jeeves4service/internalauth/subject"
)

// The exchange's callees, each with its own contract: the user service
// serves listUserProfiles (made for any verified subject, the property
// service allowed) and batchUsers (made for nobody); the property service
// serves getUserProperties (made for the user its path names, the user
// service allowed).
const userContractYAML = `openapi: 3.0.3
info: {title: users, version: "1"}
security:
  - {InternalToken: [], SubjectToken: []}
paths:
  /profiles:
    post:
      operationId: listUserProfiles
      x-allowed-callers: [property-service]
      x-on-behalf-of: {any: the profiles of a property's members, check: membership of the subject in the property}
      responses: {"200": {description: ok}}
  /batch:
    post:
      operationId: batchUsers
      security:
        - {InternalToken: []}
      x-allowed-callers: [property-service]
      x-on-behalf-of: {none: made for no user}
      responses: {"200": {description: ok}}
` + schemes

const propertyContractYAML = `openapi: 3.0.3
info: {title: properties, version: "1"}
security:
  - {InternalToken: [], SubjectToken: []}
paths:
  /users/{user_id}/properties:
    get:
      operationId: getUserProperties
      parameters:
        - {name: user_id, in: path, required: true, schema: {type: string}}
      x-allowed-callers: [user-service]
      x-on-behalf-of: {parameter: user_id}
      responses: {"200": {description: ok}}
` + schemes

// accessClaims are the test's access tokens' claims: the user (sub) and the
// session (jti), for the session check to be given.
type accessClaims struct{ jwt.RegisteredClaims }

// accessToken signs an access token (typ JWT, as the token service's) for
// user with session, living ttl from now.
func accessToken(t testing.TB, key ed25519.PrivateKey, user, session string, now time.Time, ttl time.Duration) string {
	t.Helper()
	c := accessClaims{}
	c.Issuer, c.Subject, c.ID = "users", user, session
	c.IssuedAt, c.ExpiresAt = jwt.NewNumericDate(now), jwt.NewNumericDate(now.Add(ttl))
	tok, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// verifyAccess is the Exchanger's Access: the token service's own check of
// its access tokens (signature, issuer, expiry, typ JWT, so that a subject
// token, signed with the same key, never passes for one).
func verifyAccess(key ed25519.PrivateKey, now func() time.Time) func(context.Context, string) (AccessToken, error) {
	return func(_ context.Context, token string) (AccessToken, error) {
		c := &accessClaims{}
		_, err := jwt.NewParser(jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithIssuer("users"),
			jwt.WithExpirationRequired(), jwt.WithTimeFunc(now)).ParseWithClaims(token, c, func(t *jwt.Token) (any, error) {
			if t.Header["typ"] != "JWT" {
				return nil, fmt.Errorf("typ %v is not an access token's", t.Header["typ"])
			}
			return key.Public(), nil
		})
		if err != nil {
			return AccessToken{}, err
		}
		return AccessToken{Subject: c.Subject, Expires: c.ExpiresAt.Time, Claims: c}, nil
	}
}

type exchangeFixture struct {
	x      *Exchanger
	ts     tokenService
	access string // user 7's, session s7
	now    *time.Time
}

// exchangeWorld is the token service's exchanger serving both callees'
// contracts, and an access token for user 7.
func exchangeWorld(t *testing.T, now time.Time) exchangeFixture {
	t.Helper()
	ts := newTokenService(t)
	f := exchangeFixture{ts: ts, now: &now}
	clock := func() time.Time { return *f.now }
	f.access = accessToken(t, ts.key, "7", "s7", now, 15*time.Minute)
	f.x = &Exchanger{Access: verifyAccess(ts.key, clock), Signer: ts.signer, TTL: 30 * time.Second,
		Live: func(context.Context, AccessToken) (bool, error) { return true, nil }, Now: clock}
	if err := f.x.Serve(
		Callee{Name: "user-service", ID: "spiffe://example.org/user-service", Contract: loadContract(t, userContractYAML)},
		Callee{Name: "property-service", Contract: loadContract(t, propertyContractYAML)},
	); err != nil {
		t.Fatal(err)
	}
	return f
}

func request(access, audience, scope string) ExchangeRequest {
	return ExchangeRequest{GrantType: GrantTokenExchange, SubjectToken: access, SubjectTokenType: TokenTypeJWT,
		Audience: audience, Scope: scope, RequestedTokenType: DefaultSubjectTokenType}
}

func TestExchangeIssuesASubjectTokenForTheAccessTokensUserOnly(t *testing.T) {
	now := time.Now()
	f := exchangeWorld(t, now)
	x := f.x
	resp, err := x.Exchange(context.Background(), request(f.access, "user-service", "listUserProfiles"), "property-service", "")
	if err != nil {
		t.Fatal(err)
	}
	v := f.ts.verifier.WithClock(func() time.Time { return now })
	c, err := v.Verify(context.Background(), resp.AccessToken, "user-service")
	if err != nil || c.Subject != "7" || c.Operation != "listUserProfiles" || c.AuthorizedParty != "property-service" ||
		resp.IssuedTokenType != DefaultSubjectTokenType || resp.TokenType != "N_A" || resp.ExpiresIn != 30 ||
		resp.Subject != "7" || resp.TokenID != c.ID {
		t.Fatalf("%+v %+v %v", resp, c, err)
	}
	// In spiffe mode, both identities are SPIFFE IDs.
	resp, err = x.Exchange(context.Background(), request(f.access, "spiffe://example.org/user-service", "listUserProfiles"),
		"property-service", "spiffe://example.org/property-service")
	if err != nil {
		t.Fatal(err)
	}
	c, err = v.Verify(context.Background(), resp.AccessToken, "spiffe://example.org/user-service")
	if err != nil || c.AuthorizedParty != "spiffe://example.org/property-service" {
		t.Fatalf("spiffe: %+v %v", c, err)
	}
	// Callers are those of the operations made for a user only.
	if got := x.Callers(); len(got) != 2 || got[0] != "property-service" || got[1] != "user-service" {
		t.Fatalf("Callers: %v", got)
	}

	subjectTok, _, _ := f.ts.signer.Sign(subject.Request{Subject: "7", Audience: "user-service",
		Operation: "listUserProfiles", AuthorizedParty: "property-service"}, 30*time.Second, now)
	shortLived := accessToken(t, f.ts.key, "7", "s7", now, 3*time.Second)
	for name, c := range map[string]struct {
		req      ExchangeRequest
		caller   string
		callerID string
		code     string
	}{
		"another grant":    {ExchangeRequest{GrantType: "password"}, "property-service", "", "unsupported_grant_type"},
		"no subject token": {request("", "user-service", "listUserProfiles"), "property-service", "", "invalid_request"},
		"a forged access token": {request(f.access[:len(f.access)-4]+"AAAA", "user-service", "listUserProfiles"),
			"property-service", "", "invalid_grant"},
		"a subject token as subject": {request(subjectTok, "user-service", "listUserProfiles"), "property-service", "",
			"invalid_grant"},
		"an access token about to expire": {request(shortLived, "user-service", "listUserProfiles"), "property-service", "",
			"invalid_grant"},
		"a caller the contract does not allow": {request(f.access, "user-service", "listUserProfiles"), "reporting", "",
			"unauthorized_client"},
		"an operation made for nobody": {request(f.access, "user-service", "batchUsers"), "property-service", "",
			"invalid_target"},
		"an operation served elsewhere": {request(f.access, "user-service", "getUserProperties"), "user-service", "",
			"invalid_target"},
		"the wrong audience":   {request(f.access, "property-service", "listUserProfiles"), "property-service", "", "invalid_target"},
		"an unknown operation": {request(f.access, "user-service", "nope"), "property-service", "", "invalid_target"},
		"a SPIFFE caller for a caller name": {request(f.access, "user-service", "listUserProfiles"), "property-service",
			"spiffe://example.org/property-service", "invalid_target"},
		"a token caller for a SPIFFE ID": {request(f.access, "spiffe://example.org/user-service", "listUserProfiles"),
			"property-service", "", "invalid_target"},
	} {
		resp, err := x.Exchange(context.Background(), c.req, c.caller, c.callerID)
		var xe *ExchangeError
		if !errors.As(err, &xe) || xe.Code != c.code || resp.AccessToken != "" {
			t.Errorf("%s: %v, want %s", name, err, c.code)
		}
	}
}

// A contract the exchange cannot enforce is not served: an operation
// without x-on-behalf-of, two callees serving one operationId under one
// name, a callee without a contract.
func TestExchangeServesOnlyCompleteContracts(t *testing.T) {
	ts := newTokenService(t)
	x := &Exchanger{Signer: ts.signer}
	noOnBehalfOf := loadContract(t, userContractYAML)
	delete(noOnBehalfOf.Paths.Find("/profiles").Post.Extensions, OnBehalfOfExtension)
	if err := x.Serve(Callee{Name: "user-service", Contract: noOnBehalfOf}); err == nil {
		t.Error("a contract with an operation without x-on-behalf-of was served")
	}
	if err := x.Serve(Callee{Name: "user-service"}); err == nil {
		t.Error("a callee without a contract was served")
	}
	x = &Exchanger{Signer: ts.signer}
	users := Callee{Name: "user-service", Contract: loadContract(t, userContractYAML)}
	if err := x.Serve(users, users); err == nil {
		t.Error("one operation served twice under one name")
	}
}

// The caller's cache exchanges once per (user, operation, audience) until
// Margin before expiry, then again; a call without the user's access token
// is not made; an answer for another user is refused.
func TestSubjectCacheExchangesOncePerUserUntilNearExpiry(t *testing.T) {
	now := time.Now()
	f := exchangeWorld(t, now)
	exchanges := 0
	cache := &SubjectCache{Margin: 10 * time.Second, MaxEntries: 100, Now: func() time.Time { return *f.now },
		Exchange: func(ctx context.Context, req ExchangeRequest) (ExchangeResponse, error) {
			exchanges++
			return f.x.Exchange(ctx, req, "property-service", "")
		}}
	src := cache.Source()
	for7 := ForSubject(context.Background(), Subject{User: "7", Operation: "listUserProfiles", Evidence: f.access})
	req := subject.Request{Subject: "7", Audience: "user-service", Operation: "listUserProfiles", AuthorizedParty: "property-service"}
	a, err := src(for7, req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := src(for7, req)
	if a != b || exchanges != 1 {
		t.Fatalf("%d exchanges for two calls", exchanges)
	}
	*f.now = now.Add(21 * time.Second) // 9 s left of 30: within the margin
	if c, err := src(for7, req); err != nil || c == a || exchanges != 2 {
		t.Fatalf("no new exchange near expiry (%d): %v", exchanges, err)
	}
	noEvidence := ForSubject(context.Background(), Subject{User: "7", Operation: "listUserProfiles"})
	if _, err := src(noEvidence, req); !errors.Is(err, ErrNoEvidence) {
		t.Fatalf("without the access token: %v", err)
	}
	// An access token of user 7 presented for user 8: the answer is refused, not cached for 8.
	req8 := req
	req8.Subject = "8"
	for8 := ForSubject(context.Background(), Subject{User: "8", Operation: "listUserProfiles", Evidence: f.access})
	if _, err := src(for8, req8); err == nil {
		t.Fatal("a subject token for 7 given for 8")
	}
}
