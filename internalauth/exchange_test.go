package internalauth

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
)

// exchangeWorld is a user service's exchanger serving listUserProfiles (a
// made-up operation made for any user, the property service allowed), and
// an access token for user 7.
func exchangeWorld(t *testing.T, now time.Time) (*Exchanger, *jwtauth.Signer, string) {
	x, signer, access, _ := exchangeWorldKey(t, now)
	return x, signer, access
}

func exchangeWorldKey(t *testing.T, now time.Time) (*Exchanger, *jwtauth.Signer, string, ed25519.PrivateKey) {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	settings := jwtauth.Settings{Issuer: "users", Audience: "api"}
	signer := jwtauth.NewSigner(key, nil, settings, 15*time.Minute)
	c := jwtauth.Claims{UserID: 7, SessionID: "s7"}
	c.Subject = "7"
	access, _, err := signer.Sign(c, now)
	if err != nil {
		t.Fatal(err)
	}
	x := &Exchanger{Access: jwtauth.NewVerifier(signer, settings), Signer: signer, TTL: 30 * time.Second,
		Live: func(context.Context, *jwtauth.Claims) (bool, error) { return true, nil },
		Policies: map[string]Policy{
			"listUserProfiles":  {Callers: map[string]bool{"property-service": true}, OnBehalfOf: OnBehalfOf{Any: "x"}, Subject: true},
			"getUserProperties": {Callers: map[string]bool{"user-service": true}, OnBehalfOf: OnBehalfOf{Parameter: "user_id"}, Subject: true},
			"batch":             {Callers: map[string]bool{"property-service": true}, OnBehalfOf: OnBehalfOf{None: "x"}},
		},
		Audiences: ServedBy("user-service", "spiffe://example.org/user-service", "listUserProfiles", "batch"),
		Now:       func() time.Time { return now }}
	return x, signer, access, key
}

func request(access, audience, scope string) ExchangeRequest {
	return ExchangeRequest{GrantType: GrantTokenExchange, SubjectToken: access, SubjectTokenType: TokenTypeJWT,
		Audience: audience, Scope: scope, RequestedTokenType: TokenTypeSubject}
}

func TestExchangeIssuesASubjectTokenForTheAccessTokensUserOnly(t *testing.T) {
	now := time.Now()
	x, signer, access, key := exchangeWorldKey(t, now)
	resp, err := x.Exchange(context.Background(), request(access, "user-service", "listUserProfiles"), "property-service", "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := jwtauth.NewSubjectVerifier(signer, "users").Verify(context.Background(), resp.AccessToken, "user-service")
	if err != nil || c.Subject != "7" || c.Operation != "listUserProfiles" || c.AuthorizedParty != "property-service" ||
		resp.IssuedTokenType != TokenTypeSubject || resp.TokenType != "N_A" || resp.ExpiresIn != 30 {
		t.Fatalf("%+v %+v %v", resp, c, err)
	}
	// In spiffe mode, both identities are SPIFFE IDs.
	resp, err = x.Exchange(context.Background(), request(access, "spiffe://example.org/user-service", "listUserProfiles"),
		"property-service", "spiffe://example.org/property-service")
	if err != nil {
		t.Fatal(err)
	}
	c, err = jwtauth.NewSubjectVerifier(signer, "users").Verify(context.Background(), resp.AccessToken, "spiffe://example.org/user-service")
	if err != nil || c.AuthorizedParty != "spiffe://example.org/property-service" {
		t.Fatalf("spiffe: %+v %v", c, err)
	}

	subjectTok, _, _ := signer.SignSubject(jwtauth.SubjectRequest{Subject: "7", Audience: "user-service",
		Operation: "listUserProfiles", AuthorizedParty: "property-service"}, 30*time.Second, now)
	shortLived := func() string {
		c := jwtauth.Claims{UserID: 7}
		c.Subject = "7"
		tok, _, _ := jwtauth.NewSigner(key, nil, jwtauth.Settings{Issuer: "users", Audience: "api"}, 3*time.Second).Sign(c, now)
		return tok
	}
	for name, c := range map[string]struct {
		req    ExchangeRequest
		caller string
		code   string
	}{
		"another grant":    {ExchangeRequest{GrantType: "password"}, "property-service", "unsupported_grant_type"},
		"no subject token": {request("", "user-service", "listUserProfiles"), "property-service", "invalid_request"},
		"a forged access token": {request(access[:len(access)-4]+"AAAA", "user-service", "listUserProfiles"),
			"property-service", "invalid_grant"},
		"a subject token as subject":      {request(subjectTok, "user-service", "listUserProfiles"), "property-service", "invalid_grant"},
		"an access token about to expire": {request(shortLived(), "user-service", "listUserProfiles"), "property-service", "invalid_grant"},
		"a caller the contract does not allow": {request(access, "user-service", "listUserProfiles"), "reporting",
			"unauthorized_client"},
		"an operation made for nobody": {request(access, "user-service", "batch"), "property-service", "invalid_target"},
		"an operation served elsewhere": {request(access, "property-service", "getUserProperties"), "user-service",
			"invalid_target"},
		"the wrong audience":   {request(access, "property-service", "listUserProfiles"), "property-service", "invalid_target"},
		"an unknown operation": {request(access, "user-service", "nope"), "property-service", "invalid_target"},
	} {
		_, err := x.Exchange(context.Background(), c.req, c.caller, "")
		var xe *ExchangeError
		if !errors.As(err, &xe) || xe.Code != c.code {
			t.Fatalf("%s: %v, want %s", name, err, c.code)
		}
	}
}

// The caller's cache exchanges once per (user, operation, audience) until
// Margin before expiry, then again; a call without the user's access token
// is not made; an answer for another user is refused.
func TestSubjectCacheExchangesOncePerUserUntilNearExpiry(t *testing.T) {
	now := time.Now()
	x, _, access := exchangeWorld(t, now)
	exchanges := 0
	cache := &SubjectCache{Margin: 10 * time.Second, MaxEntries: 100, Now: func() time.Time { return now },
		Exchange: func(ctx context.Context, req ExchangeRequest) (ExchangeResponse, error) {
			exchanges++
			return x.Exchange(ctx, req, "property-service", "")
		}}
	src := cache.Source()
	for7 := ForSubject(context.Background(), Subject{User: "7", Operation: "listUserProfiles", Evidence: access})
	req := jwtauth.SubjectRequest{Subject: "7", Audience: "user-service", Operation: "listUserProfiles", AuthorizedParty: "property-service"}
	a, err := src(for7, req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := src(for7, req)
	if a != b || exchanges != 1 {
		t.Fatalf("%d exchanges for two calls", exchanges)
	}
	now = now.Add(21 * time.Second) // 9 s left of 30: within the margin
	if c, _ := src(for7, req); c == a || exchanges != 2 {
		t.Fatalf("no new exchange near expiry (%d)", exchanges)
	}
	noEvidence := ForSubject(context.Background(), Subject{User: "7", Operation: "listUserProfiles"})
	if _, err := src(noEvidence, req); !errors.Is(err, ErrNoEvidence) {
		t.Fatalf("without the access token: %v", err)
	}
	// An access token of user 7 presented for user 8: the answer is refused, not cached for 8.
	req8 := req
	req8.Subject = "8"
	if _, err := src(ForSubject(context.Background(), Subject{User: "8", Operation: "listUserProfiles", Evidence: access}), req8); err == nil {
		t.Fatal("a subject token for 7 given for 8")
	}
}
