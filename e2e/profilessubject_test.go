package e2e

// Issue 29 for the second internal operation: whoever holds the property
// service's credential (its static token, or its identity files) asks the
// user service for everyone's names and emails. With subject tokens the
// credential alone reads nothing: the profiles call needs a subject token the
// user service issued, by exchange, for a user whose access token the caller
// holds. Each attack over HTTP against the real services, on both engines,
// in token and in spiffe mode.

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/internalauth"
	"github.com/jeeves4service/jeeves4service/internalauth/identity"
	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
)

// propertyWorkload is what a thief of the property service's credential
// holds: a client, fresh credential headers for the user service, and the
// forms of the names the subject tokens use (audience, caller).
type propertyWorkload struct {
	client        *http.Client
	credential    func() []string
	audience, azp string // the user service and the property service, in the mode's form
	other         string // another workload, in the same form
}

func (s *system) asPropertyService(t *testing.T) propertyWorkload {
	t.Helper()
	if s.propertyIdentity == "" {
		return propertyWorkload{client: testenv.Client, audience: "user-service", azp: "property-service", other: "reporting",
			credential: func() []string { return []string{internalauth.Header, propertyToken} }}
	}
	ctx := context.Background()
	src, err := identity.Open(ctx, identity.Config{Dir: s.propertyIdentity}, discard())
	if err != nil {
		t.Fatal(err)
	}
	userID, err := spiffeid.FromPath(src.ID().TrustDomain(), "/user-service")
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: identity.ClientTLS(src, userID)}}
	return propertyWorkload{client: client, audience: userID.String(), azp: src.ID().String(),
		other: "spiffe://" + src.ID().TrustDomain().Name() + "/reporting",
		credential: func() []string {
			svid, err := src.JWTSVID(ctx, userID)
			if err != nil {
				t.Fatal(err)
			}
			return []string{internalauth.Header, svid}
		}}
}

// exchange asks the user service for a subject token for the user of access,
// as the property service does; it returns the answer.
func (w propertyWorkload) exchange(t *testing.T, s *system, access, scope, audience string) testenv.Response {
	t.Helper()
	return testenv.DoWith(t, w.client, "POST", s.userInternal+"/api/internal/users/subject-tokens", map[string]string{
		"grant_type": internalauth.GrantTokenExchange, "subject_token": access, "subject_token_type": internalauth.TokenTypeJWT,
		"audience": audience, "scope": scope, "requested_token_type": "urn:internalauth:token-type:subject"}, w.credential()...)
}

// accessToken signs an access token for user with the user service's key,
// as its login does.
func (s *system) accessToken(t testing.TB, user int64) string {
	t.Helper()
	c := jwtauth.Claims{UserID: user}
	c.Subject = fmt.Sprint(user)
	tok, _, err := s.signer(t).Sign(c, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// subjectToken signs a subject token with the user service's own key (what
// only the user service can do: a test standing in for its signer).
func (s *system) subjectToken(t testing.TB, user int64, audience, op, azp string, iat time.Time) string {
	t.Helper()
	tok, _, err := s.signer(t).SignSubject(jwtauth.SubjectRequest{Subject: fmt.Sprint(user),
		Audience: audience, Operation: op, AuthorizedParty: azp}, 30*time.Second, iat)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestThePropertyServicesCredentialAloneReadsNoProfile(t *testing.T) {
	for _, eng := range testenv.Engines(t) {
		for _, mode := range []string{"token", "spiffe"} {
			t.Run(eng.Name+"/"+mode, func(t *testing.T) {
				s := startSystemWith(t, eng, map[string]string{"INTERNAL_AUTH": mode, "INTERNAL_TOKEN_FAILURE_LIMIT": "1000/1m"})
				profilesAttacks(t, s)
			})
		}
	}
}

func profilesAttacks(t *testing.T, s *system) {
	// Ada shares her cottage with Bob; both have signed in since, so the
	// user service has seen both as its members.
	adaID, cottage, ada := ownerSeenInProperty(t, s, "ada@example.com")
	bobID := register(t, s, "bob@example.com", "correct horse battery staple")
	bob, _ := login(t, s, "bob@example.com", "correct horse battery staple")
	share(t, s, ada.Token, bob.Token, cottage, "bob@example.com", "member")
	login(t, s, "bob@example.com", "correct horse battery staple")
	w := s.asPropertyService(t)
	profiles := profilesURL(t, s.userInternal, adaID, cottage)
	everyone := map[string]any{"user_ids": []int64{adaID, bobID}}
	call := func(subject ...string) testenv.Response {
		t.Helper()
		return testenv.DoWith(t, w.client, "POST", profiles, everyone, append(w.credential(), subject...)...)
	}
	warned := func(reason string) bool {
		for _, l := range append(s.userLogs.Lines("internal call rejected"), s.userLogs.Lines("internal call forbidden")...) {
			if l["reason"] == reason && l["level"] == "WARN" {
				return true
			}
		}
		return false
	}
	now := time.Now()
	sub := internalauth.SubjectHeader
	for _, a := range []struct {
		name    string
		headers []string
		status  int
		reason  string
	}{
		{"the credential alone", nil, 401, "subject_token_missing"},
		{"the token the user service minted for the claims call", []string{sub,
			s.subjectToken(t, adaID, strings.Replace(w.audience, "user-service", "property-service", 1), "getUserProperties",
				strings.Replace(w.azp, "property-service", "user-service", 1), now)}, 401, "subject_token_invalid"},
		{"one for this callee but the claims operation", []string{sub,
			s.subjectToken(t, adaID, w.audience, "getUserProperties", w.azp, now)}, 403, "subject_token_other_operation"},
		{"one issued to another workload", []string{sub,
			s.subjectToken(t, adaID, w.audience, "getUserProfiles", w.other, now)}, 403, "subject_token_other_caller"},
		{"expired 10 s ago", []string{sub,
			s.subjectToken(t, adaID, w.audience, "getUserProfiles", w.azp, now.Add(-40*time.Second))}, 401, "subject_token_expired"},
		{"forged", []string{sub, forgedSubjectToken(t, fmt.Sprint(adaID), w.audience, "getUserProfiles", w.azp)}, 401,
			"subject_token_invalid"},
		{"alg:none", []string{sub, algNoneSubjectToken(fmt.Sprint(adaID), w.audience, "getUserProfiles", w.azp)}, 401,
			"subject_token_invalid"},
		{"Ada's access token", []string{sub, ada.Token}, 401, "subject_token_invalid"},
	} {
		if r := call(a.headers...); r.Status != a.status || !warned(a.reason) || strings.Contains(string(r.Body), "Ada") {
			t.Fatalf("%s: %d (want %d, WARN %s: %v) %s", a.name, r.Status, a.status, a.reason, warned(a.reason), r.Body)
		}
	}

	// The exchange gives a subject token only for the user of a valid
	// access token, only for an operation of the user service made for a
	// user that this caller may call, only to this caller.
	for _, x := range []struct {
		name, access, scope, audience string
		status                        int
		field                         string
	}{
		{"a forged access token", ada.Token[:len(ada.Token)-4] + "AAAA", "getUserProfiles", w.audience, 400, "subject_token"},
		{"a subject token instead of an access token", s.subjectToken(t, adaID, w.audience, "getUserProfiles", w.azp, now),
			"getUserProfiles", w.audience, 400, "subject_token"},
		{"the claims operation", ada.Token, "getUserProperties", w.audience, 400, "scope"},
		{"the exchange itself", ada.Token, "exchangeSubjectToken", w.audience, 400, "scope"},
		{"another audience", ada.Token, "getUserProfiles", w.other, 400, "audience"},
	} {
		r := w.exchange(t, s, x.access, x.scope, x.audience)
		if r.Status != x.status || !strings.Contains(string(r.Body), `"field":"`+x.field+`"`) || strings.Contains(string(r.Body), "eyJ") {
			t.Fatalf("exchange with %s: %d %s, want %d naming %s", x.name, r.Status, r.Body, x.status, x.field)
		}
	}
	if r := testenv.DoWith(t, w.client, "POST", s.userInternal+"/api/internal/users/subject-tokens", map[string]string{
		"grant_type": internalauth.GrantTokenExchange, "subject_token": ada.Token, "subject_token_type": internalauth.TokenTypeJWT,
		"audience": w.audience, "scope": "getUserProfiles"}); r.Status != 401 {
		t.Fatalf("an exchange without the credential: %d", r.Status)
	}

	// The controls: Ada's access token, exchanged, reads the profiles of
	// her cottage's members, and the audit line names Ada and the jti.
	r := w.exchange(t, s, ada.Token, "getUserProfiles", w.audience)
	var issued struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	r.JSON(t, &issued)
	if r.Status != 200 || r.Header.Get("Cache-Control") != "no-store" || issued.ExpiresIn > 60 || issued.ExpiresIn < 50 {
		t.Fatalf("the exchange: %d %v %+v", r.Status, r.Header, issued)
	}
	if r := call(sub, issued.AccessToken); r.Status != 200 || !strings.Contains(string(r.Body), "bob@example.com") {
		t.Fatalf("the exchanged subject token: %d %s", r.Status, r.Body)
	}
	// The audit: the exchange names the user it issued a token for and the
	// token's jti; the profiles call, the same user and jti.
	audits := s.userLogs.Lines("internal call")
	exchanged, last := audits[len(audits)-2], audits[len(audits)-1]
	if exchanged["operation"] != "exchangeSubjectToken" || exchanged["user_id"] != fmt.Sprint(adaID) || exchanged["jti"] == nil ||
		exchanged["jti"] == "" || exchanged["level"] != "INFO" {
		t.Fatalf("audit line of the exchange %v", exchanged)
	}
	if last["operation"] != "getUserProfiles" || last["user_id"] != fmt.Sprint(adaID) || last["jti"] != exchanged["jti"] {
		t.Fatalf("audit line %v", last)
	}
	if w := s.userLogs.Lines("subject token exchange refused"); len(w) != 5 || w[0]["reason"] != "invalid_grant" {
		t.Fatalf("the refused exchanges' WARN lines: %v", w)
	}
	for _, secret := range []string{ada.Token, issued.AccessToken, propertyToken} {
		if strings.Contains(s.userLogs.String(), secret) || strings.Contains(s.propertyLogs.String(), secret) {
			t.Fatal("a token in a log")
		}
	}
}

func discard() *slog.Logger { l, _ := testenv.DiscardLogger(); return l }

// subjectClaims are a subject token's claims for user, audience, op and azp,
// 30 s to live.
func subjectClaims(user, audience, op, azp string) map[string]any {
	now := time.Now()
	return map[string]any{"iss": "jeeves4service", "sub": user, "aud": audience, "op": op, "azp": azp, "jti": "forged-1",
		"iat": now.Unix(), "exp": now.Add(30 * time.Second).Unix()}
}

func b64JSON(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// forgedSubjectToken is a subject token signed with a key of no JWKS.
func forgedSubjectToken(t *testing.T, user, audience, op, azp string) string {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signing := b64JSON(map[string]any{"alg": "EdDSA", "typ": jwtauth.SubjectTokenType, "kid": "forged"}) + "." +
		b64JSON(subjectClaims(user, audience, op, azp))
	return signing + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(key, []byte(signing)))
}

// algNoneSubjectToken is an unsigned subject token (alg: none).
func algNoneSubjectToken(user, audience, op, azp string) string {
	return b64JSON(map[string]any{"alg": "none", "typ": jwtauth.SubjectTokenType}) + "." +
		b64JSON(subjectClaims(user, audience, op, azp)) + "."
}
