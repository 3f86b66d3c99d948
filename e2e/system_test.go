// Package e2e runs both real services in-process on loopback listeners and
// drives them over HTTP the way a client would.
package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/jeeves4service/jeeves4service"
	"github.com/jeeves4service/jeeves4service/internal/testkit/outbox"
	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/internalauth"
	"github.com/jeeves4service/jeeves4service/internalauth/identity"
	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
	"github.com/jeeves4service/jeeves4service/services/common/workload"
	"github.com/jeeves4service/jeeves4service/services/property"
	"github.com/jeeves4service/jeeves4service/services/user"
)

const internalToken = "e2e-internal-token-0123456789abcdefghijkl"

// propertyToken is the property service's token for the user service's
// internal listener (PROPERTY_SERVICE_TOKEN).
const propertyToken = "e2e-property-token-0123456789abcdefghijk"

// system is one running pair of services.
type system struct {
	user, property, internal string
	// userInternal is the user service's internal listener (the property service calls it).
	userInternal             string
	userAdmin, propertyAdmin string // admin listeners: /metrics
	stopProperty, stopUser   func()
	userLogs, propertyLogs   *testenv.LogBuffer
	userDB, propertyDB       string            // database URLs, for checking that rejected requests wrote nothing
	userEnv                  map[string]string // the user service's environment, for its admin commands
	jwt                      jwtauth.Settings  // the user service's issuer and audience
	propertyIdentity         string            // the property service's SPIFFE_DIR in spiffe mode ("" otherwise)
	// mail holds the invitations' mails, unless the property service sends
	// them through SMTP_URL (the Mailpit tests read them there).
	mail *outbox.Outbox
}

// claimsCall are the headers of the user service's call of url (ending in
// /users/{id}): its static token, and a subject token for that user signed
// with the user service's own key, as the user service mints it at login.
// Tests that call the internal listener themselves stand in for the user
// service.
func (s *system) claimsCall(t testing.TB, url string) []string {
	t.Helper()
	user := url[strings.LastIndex(url, "/")+1:]
	user, _, _ = strings.Cut(user, "?")
	// The subject is the path's user id as written, a number or not (the
	// contract tests send bad ones, which must meet the validator).
	tok, _, err := s.signer(t).SignSubject(jwtauth.SubjectRequest{Subject: user, Audience: "property-service",
		Operation: "getUserProperties", AuthorizedParty: "user-service"}, 30*time.Second, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return []string{internalauth.Header, internalToken, internalauth.SubjectHeader, tok}
}

// signer is the user service's signer, from its key file: tests that stand
// in for the user service sign with it.
func (s *system) signer(t testing.TB) *jwtauth.Signer {
	t.Helper()
	key, err := jwtauth.LoadOrCreateKey(s.userEnv["JWT_SIGNING_KEY_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	return jwtauth.NewSigner(key, nil, s.jwt, time.Hour)
}

func startSystem(t *testing.T, eng testenv.Engine) *system {
	t.Helper()
	return startSystemVia(t, eng, nil)
}

// startSystemWith is startSystem with more environment for both services.
func startSystemWith(t *testing.T, eng testenv.Engine, extra map[string]string) *system {
	t.Helper()
	return startSystemOpts(t, eng, nil, extra)
}

// startSystemVia starts both services; via, when set, gets each listener's URL
// ("user", "property", "internal") and returns the URL clients should use
// instead (a validating proxy). The user service reaches the internal
// listener through via too.
func startSystemVia(t *testing.T, eng testenv.Engine, via func(name, url string) string) *system {
	t.Helper()
	return startSystemOpts(t, eng, via, nil)
}

func startSystemOpts(t *testing.T, eng testenv.Engine, via func(name, url string) string, extra map[string]string) *system {
	t.Helper()
	if via == nil {
		via = func(_, url string) string { return url }
	}
	ctx := context.Background()
	userLog, userLogs := newLogger()
	propLog, propLogs := newLogger()

	// The property service binds first, so the user service knows its
	// internal URL; it verifies JWTs with the user service's JWKS through a
	// proxy that reaches the user service once that has a port.
	userDB, propertyDB := eng.NewURL(t), eng.NewURL(t)
	jwks := testenv.NewProxy(t, "127.0.0.1:1")
	sys := &system{}
	sys.userEnv = map[string]string{
		"USER_PUBLIC_ADDR": "127.0.0.1:0", "USER_ADMIN_ADDR": "127.0.0.1:0", "USER_DATABASE_URL": userDB,
		"INTERNAL_SERVICE_TOKEN": internalToken, "JWT_SIGNING_KEY_FILE": filepath.Join(t.TempDir(), "key.pem"),
		"PROPERTY_SERVICE_URL": "http://127.0.0.1:1", // replaced below once the property service has a port
		"USER_INTERNAL_ADDR":   "127.0.0.1:0", "PROPERTY_SERVICE_TOKEN": propertyToken,
	}
	propEnv := map[string]string{
		"PROPERTY_PUBLIC_ADDR": "127.0.0.1:0", "PROPERTY_INTERNAL_ADDR": "127.0.0.1:0", "PROPERTY_ADMIN_ADDR": "127.0.0.1:0",
		"PROPERTY_DATABASE_URL": propertyDB, "INTERNAL_SERVICE_TOKEN": internalToken,
		"JWT_JWKS_URL": "http://" + jwks.Addr() + "/.well-known/jwks.json", "PROPERTY_SERVICE_TOKEN": propertyToken,
	}
	for k, v := range extra {
		sys.userEnv[k], propEnv[k] = v, v
	}
	scheme := "http://"
	if extra["INTERNAL_AUTH"] == string(workload.SPIFFE) {
		// A dev trust domain instead of the token, as `make run` makes one.
		dir := t.TempDir()
		if err := identity.Init("e2e.example", dir, []string{"user-service", "property-service"}, time.Hour); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"INTERNAL_SERVICE_TOKEN", "PROPERTY_SERVICE_TOKEN"} {
			delete(sys.userEnv, name)
			delete(propEnv, name)
		}
		sys.userEnv["SPIFFE_DIR"], propEnv["SPIFFE_DIR"] = filepath.Join(dir, "user-service"), filepath.Join(dir, "property-service")
		sys.propertyIdentity = propEnv["SPIFFE_DIR"]
		sys.userEnv["PROPERTY_SERVICE_URL"], scheme = "https://127.0.0.1:1", "https://"
	}
	if extra["INTERNAL_TLS_CERT_FILE"] != "" {
		// Token mode over TLS: both internal listeners present the
		// certificate, both callers verify it against INTERNAL_TLS_CA_FILE.
		sys.userEnv["PROPERTY_SERVICE_URL"], scheme = "https://127.0.0.1:1", "https://"
	}
	userCfg, err := user.LoadConfig(mapEnv(sys.userEnv))
	if err != nil {
		t.Fatal(err)
	}
	propCfg, err := property.LoadConfig(mapEnv(propEnv))
	if err != nil {
		t.Fatal(err)
	}
	sys.mail = &outbox.Outbox{}
	if propEnv["SMTP_URL"] == "" && propEnv["MAIL_TO_LOG"] == "" {
		propCfg.Mailer = sys.mail
	}
	// Bind the property service first so the user service knows its internal URL.
	propSvc, err := property.New(ctx, propCfg, propLog)
	if err != nil {
		t.Fatal(err)
	}
	internal := via("internal", scheme+propSvc.Server.Addr("internal"))
	userCfg.Internal.Callees[0].URL = internal // the property service is its one callee
	userSvc, err := user.New(ctx, userCfg, userLog)
	if err != nil {
		t.Fatal(err)
	}
	sys.stopUser = testenv.Serve(t, userSvc)
	sys.userInternal = via("userInternal", scheme+userSvc.Server.Addr("internal"))
	if err := propSvc.SetUserServiceURL(sys.userInternal); err != nil {
		t.Fatal(err)
	}
	userURL := "http://" + userSvc.Server.Addr("public")
	sys.user, sys.internal, sys.userLogs, sys.propertyLogs = via("user", userURL), internal, userLogs, propLogs
	sys.userDB, sys.propertyDB, sys.jwt = userDB, propertyDB, userCfg.JWT
	sys.userAdmin, sys.propertyAdmin = "http://"+userSvc.Server.Addr("admin"), "http://"+propSvc.Server.Addr("admin")
	jwks.Retarget(userSvc.Server.Addr("public"))
	sys.property = via("property", "http://"+propSvc.Server.Addr("public"))
	sys.stopProperty = testenv.Serve(t, propSvc)
	return sys
}

// newLogger makes the services' loggers; the soak swaps in one that keeps
// nothing, so that its heap measurement is of the services, not of the logs.
var newLogger = testenv.Logger

func mapEnv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// share makes the holder of inviteeToken a member of property id: the owner
// invites email, the invitee accepts (the only way anyone becomes a member).
func share(t *testing.T, s *system, ownerToken, inviteeToken string, id int64, email, level string) {
	t.Helper()
	r := testenv.Do(t, "POST", fmt.Sprintf("%s/api/property/%d/invitations", s.property, id),
		map[string]string{"email": email, "access_level": level}, testenv.Bearer(ownerToken)...)
	if r.Status != 201 {
		t.Fatalf("invite %s: %d %s", email, r.Status, r.Body)
	}
	var inv struct{ ID int64 }
	r.JSON(t, &inv)
	if r := testenv.Do(t, "POST", fmt.Sprintf("%s/api/invitations/%d/accept", s.property, inv.ID),
		map[string]string{"secret": s.mail.Secret(t, inv.ID)}, testenv.Bearer(inviteeToken)...); r.Status != 200 {
		t.Fatalf("accept: %d %s", r.Status, r.Body)
	}
}

func register(t *testing.T, s *system, email, password string) int64 {
	t.Helper()
	resp := testenv.Do(t, "POST", s.user+"/api/users/register", map[string]string{
		"email": email, "password": password, "first_name": "Ada", "last_name": "Lovelace"})
	if resp.Status != 201 {
		t.Fatalf("register: %d %s", resp.Status, resp.Body)
	}
	var u struct{ ID int64 }
	resp.JSON(t, &u)
	return u.ID
}

type session struct {
	Token              string `json:"token"`
	TokenType          string `json:"token_type"`
	ExpiresAt          string `json:"expires_at"`
	PropertiesIncluded bool   `json:"properties_included"`
	RefreshToken       string `json:"refresh_token"`
}

func login(t *testing.T, s *system, email, password string) (session, testenv.Response) {
	t.Helper()
	resp := testenv.Do(t, "POST", s.user+"/api/users/authenticate", map[string]string{"email": email, "password": password})
	var out session
	if resp.Status == 200 {
		resp.JSON(t, &out)
		if resp.Header.Get("Authorization") != "Bearer "+out.Token || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("Authorization header %q does not carry the body's token, or Cache-Control %q is not no-store",
				resp.Header.Get("Authorization"), resp.Header.Get("Cache-Control"))
		}
	}
	return out, resp
}

// verifyWithJWKS checks a token the way any other service would: keys from
// the published JWKS, algorithm pinned to EdDSA.
func verifyWithJWKS(t *testing.T, s *system, token string) *jwtauth.Claims {
	t.Helper()
	var set jwtauth.JWKS
	testenv.Do(t, "GET", s.user+"/.well-known/jwks.json", nil).JSON(t, &set)
	claims := &jwtauth.Claims{}
	parsed, err := jwt.ParseWithClaims(token, claims, func(tok *jwt.Token) (any, error) {
		for _, k := range set.Keys {
			if k.Kid == tok.Header["kid"] {
				return jwtauth.ParseJWK(k)
			}
		}
		return nil, fmt.Errorf("kid %v not in JWKS", tok.Header["kid"])
	}, jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithIssuer("jeeves4service"), jwt.WithAudience("jeeves4service"),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	if err != nil || !parsed.Valid {
		t.Fatalf("token does not verify against the JWKS: %v", err)
	}
	return claims
}

func TestLoginCarriesPropertyClaimsAndDegrades(t *testing.T) {
	for _, eng := range testenv.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) { loginFlow(t, startSystem(t, eng)) })
	}
}

// Against the real pair: the user service's logins carry subject tokens the
// property service accepts (audited with their jti), while its credential
// alone, or with a subject token for another user, reads nothing.
func TestTheUserServicesCredentialAloneReadsNoUser(t *testing.T) {
	for _, eng := range testenv.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			s := startSystem(t, eng)
			id := register(t, s, "ada@example.com", "correct horse battery staple")
			if first, resp := login(t, s, "ada@example.com", "correct horse battery staple"); resp.Status != 200 ||
				!first.PropertiesIncluded {
				t.Fatalf("login: %d %s", resp.Status, resp.Body)
			}
			audits := s.propertyLogs.Lines("internal call")
			if len(audits) != 1 || audits[0]["user_id"] != fmt.Sprint(id) || audits[0]["jti"] == nil || audits[0]["jti"] == "" {
				t.Fatalf("audit of the login's claims call: %v", audits)
			}
			url := fmt.Sprintf("%s/api/internal/properties/users/%d", s.internal, id)
			if r := testenv.Do(t, "GET", url, nil, internalauth.Header, internalToken); r.Status != 401 {
				t.Fatalf("the credential alone: %d", r.Status)
			}
			other := s.claimsCall(t, fmt.Sprintf("%s/api/internal/properties/users/%d", s.internal, id+1))
			if r := testenv.Do(t, "GET", url, nil, other...); r.Status != 403 {
				t.Fatalf("a subject token for another user: %d", r.Status)
			}
			if r := testenv.Do(t, "GET", url, nil, s.claimsCall(t, url)...); r.Status != 200 {
				t.Fatalf("the control: %d", r.Status)
			}
		})
	}
}

// The same story with SPIFFE identities from a dev trust domain's files:
// mutual TLS and JWT-SVIDs, no static secret anywhere.
func TestLoginInSPIFFEMode(t *testing.T) {
	for _, eng := range testenv.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			s := startSystemWith(t, eng, map[string]string{"INTERNAL_AUTH": "spiffe"})
			loginFlow(t, s)
			audits := s.propertyLogs.Lines("internal call")
			if len(audits) == 0 {
				t.Fatal("no audit line")
			}
			for _, a := range audits {
				// The subject token the user service minted, with SPIFFE IDs for
				// audience and caller, was accepted: its jti is in the line.
				if a["credential"] != "jwt-svid" || a["caller_id"] != "spiffe://e2e.example/user-service" ||
					a["status"] != float64(200) || a["jti"] == nil || a["jti"] == "" || a["user_id"] == "" {
					t.Fatalf("audit line %v", a)
				}
			}
		})
	}
}

// loginFlow is the story of issue #4's "done when", run directly and through
// Prism's validating proxy (make contract).
func loginFlow(t *testing.T, s *system) {
	const email, password = "ada@example.com", "correct horse battery staple"
	id := register(t, s, email, password)

	first, resp := login(t, s, email, password)
	if resp.Status != 200 || !first.PropertiesIncluded || first.TokenType != "Bearer" {
		t.Fatalf("first login: %d %s", resp.Status, resp.Body)
	}
	if c := verifyWithJWKS(t, s, first.Token); len(c.Properties) != 0 || c.UserID != id || c.Subject != fmt.Sprint(id) {
		t.Fatalf("first token claims: %+v", c)
	}

	created := testenv.Do(t, "POST", s.property+"/api/properties/", map[string]string{"name": "Seaside cottage"},
		testenv.Bearer(first.Token)...)
	if created.Status != 201 {
		t.Fatalf("create property: %d %s", created.Status, created.Body)
	}
	var prop struct{ ID int64 }
	created.JSON(t, &prop)

	// One request id follows the login into the property service's audit line.
	traced := testenv.Do(t, "POST", s.user+"/api/users/authenticate", map[string]string{"email": email, "password": password},
		"X-Request-ID", "login-trace-42")
	if traced.Status != 200 || traced.Header.Get("X-Request-ID") != "login-trace-42" {
		t.Fatalf("traced login: %d %q", traced.Status, traced.Header.Get("X-Request-ID"))
	}
	audited := false
	for _, line := range s.propertyLogs.Lines("internal call") {
		audited = audited || (line["request_id"] == "login-trace-42" && line["caller"] == "user-service" && line["user_id"] == fmt.Sprint(id))
	}
	if !audited {
		t.Fatal("the login's request id is not in the property service's audit log")
	}

	second, resp := login(t, s, email, password)
	if resp.Status != 200 || !second.PropertiesIncluded {
		t.Fatalf("second login: %d %s", resp.Status, resp.Body)
	}
	c := verifyWithJWKS(t, s, second.Token)
	want := []jwtauth.PropertyClaim{{PropertyID: prop.ID, PropertyName: "Seaside cottage", AccessLevel: "owner"}}
	if fmt.Sprint(c.Properties) != fmt.Sprint(want) {
		t.Fatalf("claims %+v, want %+v", c.Properties, want)
	}
	if c.Username != email || c.TraceID == "" || c.TraceID == verifyWithJWKS(t, s, first.Token).TraceID ||
		c.IssuedAt == nil || c.ExpiresAt == nil {
		t.Fatalf("claims incomplete: %+v", c)
	}
	assertHeader(t, second.Token, "EdDSA")

	// The property service goes away: login still works, fast, without claims.
	s.stopProperty()
	start := time.Now()
	third, resp := login(t, s, email, password)
	took := time.Since(start)
	if resp.Status != 200 || third.PropertiesIncluded {
		t.Fatalf("login with property service down: %d %s", resp.Status, resp.Body)
	}
	if took > 3*time.Second {
		t.Fatalf("degraded login took %v, want under 3s", took)
	}
	if c := verifyWithJWKS(t, s, third.Token); len(c.Properties) != 0 || c.PropertiesIncluded {
		t.Fatalf("degraded token carries property claims: %+v", c)
	}
	warns := s.userLogs.Lines("login without property claims")
	if len(warns) != 1 || warns[0]["level"] != "WARN" || warns[0]["reason"] == "" {
		t.Fatalf("want one WARN line saying why, got %v", warns)
	}
	for _, secret := range []string{internalToken, password, first.Token} {
		if strings.Contains(s.userLogs.String()+s.propertyLogs.String(), secret) {
			t.Fatalf("a secret appears in the logs")
		}
	}
}

func assertHeader(t *testing.T, token, alg string) {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	if h["alg"] != alg || h["kid"] == nil || h["kid"] == "" {
		t.Fatalf("token header %v", h)
	}
}

func TestLoginBadInput(t *testing.T) {
	for _, eng := range testenv.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			s := startSystem(t, eng)
			register(t, s, "bob@example.com", "a very long password")
			url := s.user + "/api/users/authenticate"
			wrong := testenv.Do(t, "POST", url, map[string]string{"email": "bob@example.com", "password": "not the password"})
			unknown := testenv.Do(t, "POST", url, map[string]string{"email": "nobody@example.com", "password": "not the password"})
			for name, r := range map[string]testenv.Response{"wrong password": wrong, "unknown email": unknown} {
				if r.Status != 401 {
					t.Fatalf("%s: %d %s", name, r.Status, r.Body)
				}
				if p := r.Problem(t); p["detail"] != "Invalid email or password." {
					t.Fatalf("%s: detail %v", name, p["detail"])
				}
			}
			cases := []struct {
				name   string
				url    string
				body   any
				status int
			}{
				{"malformed JSON", url, `{"email": "bob@example.com", "password": `, 400},
				{"wrong type", url, `{"email": "bob@example.com", "password": 12345}`, 400},
				{"missing password", url, `{"email": "bob@example.com"}`, 400},
				{"bad email", url, `{"email": "not-an-email", "password": "x"}`, 400},
				{"unknown field", url, `{"email": "bob@example.com", "password": "a very long password", "admin": true}`, 400},
				{"oversized body", url, `{"email": "bob@example.com", "password": "` + strings.Repeat("a", 200<<10) + `"}`, 413},
				{
					"password in query string",
					url + "?email=bob@example.com&password=a+very+long+password",
					`{"email": "bob@example.com", "password": "a very long password"}`,
					400,
				},
				{"empty body", url, "", 400},
			}
			for _, c := range cases {
				r := testenv.Do(t, "POST", c.url, c.body)
				if r.Status != c.status {
					t.Fatalf("%s: status %d, want %d (%s)", c.name, r.Status, c.status, r.Body)
				}
				p := r.Problem(t)
				if strings.Contains(string(r.Body), "a very long password") || strings.Contains(string(r.Body), "12345") {
					t.Fatalf("%s: problem echoes the submitted value: %v", c.name, p)
				}
			}
		})
	}
}

// profilesURL is where the profiles call (getUserProfiles) is served on the
// user service's internal listener base, for subject in property: read
// from the internal contract, so a test that attacks it attacks whatever
// the contract declares.
func profilesURL(t testing.TB, base string, subject, property int64) string {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(jeeves4service.InternalSpec)
	if err != nil {
		t.Fatal(err)
	}
	for path, item := range doc.Paths.Map() {
		if item.Post != nil && item.Post.OperationID == "getUserProfiles" {
			path = strings.ReplaceAll(path, "{user_id}", fmt.Sprint(subject))
			return base + strings.ReplaceAll(path, "{property_id}", fmt.Sprint(property))
		}
	}
	t.Fatal("the internal contract has no getUserProfiles")
	return ""
}

// ownerSeenInProperty registers email, creates a property with it and signs
// in again, so that the user service has seen the owner as a member of it
// (what the profiles call answers from); it returns the user, the
// property and the session.
func ownerSeenInProperty(t *testing.T, s *system, email string) (int64, int64, session) {
	t.Helper()
	user := register(t, s, email, "correct horse battery staple")
	first, _ := login(t, s, email, "correct horse battery staple")
	var p struct{ ID int64 }
	r := testenv.Do(t, "POST", s.property+"/api/properties/", map[string]string{"name": "Seen cottage"}, testenv.Bearer(first.Token)...)
	if r.Status != 201 {
		t.Fatalf("create a property: %d %s", r.Status, r.Body)
	}
	r.JSON(t, &p)
	again, _ := login(t, s, email, "correct horse battery staple")
	if !again.PropertiesIncluded {
		t.Fatal("the second login got no property claims")
	}
	return user, p.ID, again
}
