package property_test

// The attacks on the claims call that the workload credential alone cannot
// stop (issue 29): whoever holds the user service's credential asks for
// users it has no subject token for, or replays a subject token minted for
// another user, operation, caller or audience, or an expired or forged one.
// Each is tried over HTTP against a real property service, on both engines
// in token mode and in spiffe mode with file identities.

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/internalauth"
	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
	"github.com/jeeves4service/jeeves4service/services/common/upstream"
	"github.com/jeeves4service/jeeves4service/services/common/workload"
	"github.com/jeeves4service/jeeves4service/services/property"
)

// subjectAttack is one subject token (or none) presented with a good
// workload credential, and what the property service must answer.
type subjectAttack struct {
	name, path, subject string
	status              int
	reason              string // the WARN line's reason
}

// subjectAttacks are the attacks, with tokens minted by mint (the test
// issuer, the user service's key) for the mode's audience and caller forms.
func subjectAttacks(t *testing.T, issuer *testenv.Issuer, aud, azp, otherAzp, otherAud string) []subjectAttack {
	mint := func(user string, audience, op, party string, iat time.Time, ttl time.Duration) string {
		tok, _, err := issuer.Signer.SignSubject(jwtauth.SubjectRequest{Subject: user, Audience: audience, Operation: op,
			AuthorizedParty: party}, ttl, iat)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	now := time.Now()
	good := func(user string) string { return mint(user, aud, "getUserProperties", azp, now, 30*time.Second) }
	claims := map[string]any{"iss": issuer.Settings.Issuer, "sub": "7", "aud": aud, "op": "getUserProperties", "azp": azp,
		"jti": "j1", "iat": now.Unix(), "exp": now.Add(30 * time.Second).Unix()}
	enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	kid := jwtauth.KeyID(issuer.Key.Public().(ed25519.PublicKey))
	header := map[string]any{"alg": "EdDSA", "typ": jwtauth.SubjectTokenType, "kid": kid}
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	forged := enc(header) + "." + enc(claims)
	sig, _ := jwt.SigningMethodEdDSA.Sign(forged, otherKey)
	forged += "." + base64.RawURLEncoding.EncodeToString(sig)
	none := enc(map[string]any{"alg": "none", "typ": jwtauth.SubjectTokenType, "kid": kid}) + "." + enc(claims) + "."
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(claims))
	hs.Header["typ"], hs.Header["kid"] = jwtauth.SubjectTokenType, kid
	hsTok, err := hs.SignedString([]byte(issuer.Key.Public().(ed25519.PublicKey)))
	if err != nil {
		t.Fatal(err)
	}
	return []subjectAttack{
		{"the workload credential alone", "7", "", 401, "subject_token_missing"},
		{"a subject token for user 7 at users/8", "8", good("7"), 403, "subject_token_other_user"},
		{"minted for another operation", "7", mint("7", aud, "listUserProfiles", azp, now, 30*time.Second), 403,
			"subject_token_other_operation"},
		{"minted for another caller", "7", mint("7", aud, "getUserProperties", otherAzp, now, 30*time.Second), 403,
			"subject_token_other_caller"},
		{"minted for another audience", "7", mint("7", otherAud, "getUserProperties", azp, now, 30*time.Second), 401,
			"subject_token_invalid"},
		{"expired 10 s ago", "7", mint("7", aud, "getUserProperties", azp, now.Add(-40*time.Second), 30*time.Second), 401,
			"subject_token_expired"},
		{"forged", "7", forged, 401, "subject_token_invalid"},
		{"alg:none", "7", none, 401, "subject_token_invalid"},
		{"HS256 keyed with the public key", "7", hsTok, 401, "subject_token_invalid"},
		{"the user's access token", "7", issuer.Token(t, 7, true), 401, "subject_token_invalid"},
		// The controls: the right token is served, within the leeway too.
		{"the right subject token", "7", good("7"), 200, ""},
		{"expired 3 s ago", "7", mint("7", aud, "getUserProperties", azp, now.Add(-33*time.Second), 30*time.Second), 200, ""},
	}
}

// runSubjectAttacks presents each attack with credential on client and
// checks the answer, the WARN line (its reason, never the token) and, for
// the accepted ones, the audit line (caller, subject, jti).
func runSubjectAttacks(t *testing.T, e *env, client *http.Client, base string, credential []string, attacks []subjectAttack) {
	t.Helper()
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) { runSubjectAttack(t, e, client, base, credential, a) })
	}
}

func runSubjectAttack(t *testing.T, e *env, client *http.Client, base string, credential []string, a subjectAttack) {
	{
		before := len(e.logs.Lines("internal call rejected")) + len(e.logs.Lines("internal call forbidden"))
		audits := len(e.logs.Lines("internal call"))
		headers := append([]string(nil), credential...)
		if a.subject != "" {
			headers = append(headers, internalauth.SubjectHeader, a.subject)
		}
		r, err := testenv.TryWith(client, "GET", base+a.path, nil, headers...)
		if err != nil || r.Status != a.status {
			t.Fatalf("%s: %v %d, want %d (%s)", a.name, err, r.Status, a.status, r.Body)
		}
		// A subject token that does not allow the call is about its user:
		// the caller's breaker does not count it (issue 33).
		if a.status == 403 && !aboutTheUser(r) {
			t.Fatalf("%s: the caller would count this 403 against the property service: %s", a.name, r.Body)
		}
		warns := append(e.logs.Lines("internal call rejected"), e.logs.Lines("internal call forbidden")...)
		if a.reason == "" {
			got := e.logs.Lines("internal call")
			if len(warns) != before || len(got) != audits+1 {
				t.Fatalf("%s: accepted, but %d refusals, %d audit lines", a.name, len(warns)-before, len(got)-audits)
			}
			line := got[audits]
			if line["caller"] != "user-service" || line["user_id"] != a.path || line["jti"] == nil || line["jti"] == "" {
				t.Fatalf("%s: audit line %v", a.name, line)
			}
			return
		}
		found := false
		for _, w := range warns {
			found = found || (w["reason"] == a.reason && w["level"] == "WARN")
		}
		if len(warns) != before+1 || !found {
			t.Fatalf("%s: want one WARN line with reason %s, got %v", a.name, a.reason, warns[before:])
		}
		if a.subject != "" && strings.Contains(e.logs.String(), a.subject) {
			t.Fatalf("%s: the subject token appears in the logs", a.name)
		}
	}
}

func TestSubjectTokenIsCheckedInTokenMode(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		e.createProperty(t, 7, "Seaside cottage")
		attacks := subjectAttacks(t, e.issuer, "property-service", "user-service", "reporting", "user-service")
		runSubjectAttacks(t, e, testenv.Client, userPropertiesURL(e, ""), []string{internalauth.Header, goodToken}, attacks)
	})
}

func TestSubjectTokenIsCheckedInSPIFFEMode(t *testing.T) {
	s := startSPIFFE(t, workload.SPIFFE)
	id := func(name string) string { return s.td.ID(t, name).String() }
	attacks := subjectAttacks(t, s.issuer, id("property-service"), id("user-service"), id("reporting"), id("user-service"))
	// In spiffe mode the names of token mode are not the identities.
	attacks = append(attacks, subjectAttack{"the audience and caller by name, not SPIFFE ID", "7",
		s.issuer.SubjectToken(t, 7, "property-service", "getUserProperties", "user-service"), 401, "subject_token_invalid"})
	base := strings.TrimSuffix(s.url, "7")
	for i := range attacks {
		// A fresh JWT-SVID for each call: the credential is not under test.
		runSubjectAttacks(t, s.env, s.caller(t, "user-service"), base, []string{internalauth.Header, s.svid(t, "user-service")},
			attacks[i:i+1])
	}
}

// A subject token is no bearer token: the property service's public API
// refuses one, whatever its claims.
func TestSubjectTokenIsNoBearerToken(t *testing.T) {
	e := start(t, testenv.Engines(t)[0])
	sub := e.issuer.SubjectToken(t, 7, "property-service", "getUserProperties", "user-service")
	if r := testenv.Do(t, "GET", e.public+"/api/properties/", nil, testenv.Bearer(sub)...); r.Status != 401 {
		t.Fatalf("a subject token as bearer: %d %s", r.Status, r.Body)
	}
	if r := testenv.Do(t, "GET", e.public+"/api/properties/", nil, e.as(t, 7)...); r.Status != 200 {
		t.Fatalf("the control: %d", r.Status)
	}
}

// Each (operation, subject) has a budget of its own: past it 429, while
// another user's calls go on.
func TestSubjectBudgetIsPerUser(t *testing.T) {
	e := startWith(t, testenv.Engines(t)[0].NewURL(t), func(c *property.Config) {
		c.SubjectLimit.Count, c.SubjectLimit.Window = 3, time.Hour
	})
	for i := range 3 {
		if r := testenv.Do(t, "GET", userPropertiesURL(e, "7"), nil, e.claimsCall(t, goodToken, 7)...); r.Status != 200 {
			t.Fatalf("call %d: %d", i, r.Status)
		}
	}
	r := testenv.Do(t, "GET", userPropertiesURL(e, "7"), nil, e.claimsCall(t, goodToken, 7)...)
	if r.Status != 429 || r.Header.Get("Retry-After") == "" || r.Header.Get("RateLimit-Policy") != `"subject-requests";q=3;w=3600` {
		t.Fatalf("past the subject's budget: %d %v", r.Status, r.Header)
	}
	// The caller's client reads it as a refusal about user 7, which its
	// circuit breaker does not count (issue 33).
	if !aboutTheUser(r) {
		t.Fatalf("the user service would count a 429 of user 7's budget against the property service: %v", r.Header)
	}
	if r := testenv.Do(t, "GET", userPropertiesURL(e, "8"), nil, e.claimsCall(t, goodToken, 8)...); r.Status != 200 {
		t.Fatalf("another user: %d", r.Status)
	}
}

// aboutTheUser reports whether the caller's client (upstream.Refusal) reads
// r as a refusal about the user the call was made for.
func aboutTheUser(r testenv.Response) bool {
	return errors.Is(upstream.Refusal("property service", &http.Response{StatusCode: r.Status, Header: r.Header}, r.Body),
		upstream.ErrRefusedForThisRequest)
}
