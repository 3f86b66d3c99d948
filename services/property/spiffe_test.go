package property_test

// The attacks on the internal listener in INTERNAL_AUTH=spiffe and
// token+spiffe modes (token mode is service_test.go). Each credential an
// attacker might hold is tried against a property service reading a dev
// trust domain's files: the listener must refuse the connection or the
// credential, and say why in a WARN line.

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/internalauth"
	"github.com/jeeves4service/jeeves4service/internalauth/identity"
	"github.com/jeeves4service/jeeves4service/services/common/ratelimit"
	"github.com/jeeves4service/jeeves4service/services/common/workload"
	"github.com/jeeves4service/jeeves4service/services/property"
)

// spiffeEnv is a property service in a SPIFFE mode and the trust domains to
// attack it with: its own (example.org) and a stranger's (evil.example).
type spiffeEnv struct {
	*env
	td, evil *testenv.TrustDomain
	url      string // the internal call, over https
	dir      string // the property service's identity directory
}

func startSPIFFE(t *testing.T, mode workload.Mode) *spiffeEnv {
	t.Helper()
	return startSPIFFEWith(t, mode, nil)
}

// startSPIFFEWith is startSPIFFE with adjust applied to the config last.
func startSPIFFEWith(t *testing.T, mode workload.Mode, adjust func(*property.Config)) *spiffeEnv {
	t.Helper()
	td := testenv.NewTrustDomain(t, "example.org", "property-service", "user-service", "reporting")
	evil := testenv.NewTrustDomain(t, "evil.example", "property-service", "user-service")
	dir := td.Dir(t, "property-service")
	e := startWith(t, "sqlite:"+filepath.Join(t.TempDir(), "p.db"), func(c *property.Config) {
		c.Internal.Mode = mode
		c.Internal.Identity.Dir = dir
		if mode == workload.SPIFFE {
			c.Internal.Accepted = nil
		}
		// Many refusals from one test IP: the failure budget is not under test here.
		c.TokenFailures = ratelimit.Budget{Count: 1000, Window: time.Minute}
		if adjust != nil {
			adjust(c)
		}
	})
	url := strings.Replace(userPropertiesURL(e, "7"), "http://", "https://", 1)
	return &spiffeEnv{env: e, td: td, evil: evil, url: url, dir: dir}
}

// caller is a mutual-TLS client of the user service, valid now.
func (s *spiffeEnv) caller(t *testing.T, name string) *http.Client {
	now := time.Now()
	return s.td.Client(t, name, now.Add(-time.Minute), now.Add(time.Hour), s.td)
}

// as are the headers of name's claims call for user 7 in a SPIFFE mode: its
// credential, and a subject token for user 7 naming the property service
// and name by their SPIFFE IDs.
func (s *spiffeEnv) as(t *testing.T, name, credential string) []string {
	return []string{internalauth.Header, credential, internalauth.SubjectHeader, s.issuer.SubjectToken(t, 7,
		s.td.ID(t, "property-service").String(), "getUserProperties", s.td.ID(t, name).String())}
}

// svid is a JWT-SVID signed by name's key, for sub name and the property service.
func (s *spiffeEnv) svid(t *testing.T, name string) string {
	now := time.Now()
	return s.td.JWTSVID(t, name, s.td.ID(t, name), s.td.ID(t, "property-service"), now, now.Add(time.Minute))
}

func TestSPIFFEModeAcceptsTheUserServiceAndAuditsIt(t *testing.T) {
	s := startSPIFFE(t, workload.SPIFFE)
	r, err := testenv.TryWith(s.caller(t, "user-service"), "GET", s.url, nil, s.as(t, "user-service", s.svid(t, "user-service"))...)
	if err != nil || r.Status != 200 {
		t.Fatalf("good identity: %v %d %s", err, r.Status, r.Body)
	}
	audits := s.logs.Lines("internal call")
	if len(audits) != 1 || audits[0]["caller"] != "user-service" || audits[0]["caller_id"] != "spiffe://example.org/user-service" ||
		audits[0]["credential"] != "jwt-svid" || audits[0]["user_id"] != "7" {
		t.Fatalf("audit: %v", audits)
	}
	if strings.Contains(s.logs.String(), s.svid(t, "user-service")[:40]) {
		t.Fatal("a JWT-SVID appears in the logs")
	}
}

// Mutual TLS with X.509-SVIDs of the trust domain, or no connection at all.
func TestSPIFFEModeRefusesHandshakes(t *testing.T) {
	s := startSPIFFE(t, workload.SPIFFE)
	now := time.Now()
	good := s.svid(t, "user-service")
	for name, client := range map[string]*http.Client{
		"no client certificate":     s.td.NoCertClient(t),
		"another trust domain":      s.evil.Client(t, "user-service", now.Add(-time.Minute), now.Add(time.Hour), s.td),
		"expired certificate":       s.td.Client(t, "user-service", now.Add(-2*time.Hour), now.Add(-time.Hour), s.td),
		"certificate not yet valid": s.td.Client(t, "user-service", now.Add(time.Hour), now.Add(2*time.Hour), s.td),
	} {
		if r, err := testenv.TryWith(client, "GET", s.url, nil, internalauth.Header, good); err == nil {
			t.Fatalf("%s: connection accepted, status %d", name, r.Status)
		}
	}
	// Plain HTTP never reaches the handler either.
	if r, err := testenv.Try("GET", strings.Replace(s.url, "https://", "http://", 1), nil, internalauth.Header, good); err == nil &&
		r.Status < 400 {
		t.Fatalf("plain HTTP: %d", r.Status)
	}
	if len(s.logs.Lines("internal call")) != 0 {
		t.Fatal("a refused connection was served")
	}
}

// On a good connection, every credential but the caller's own fresh
// JWT-SVID for the property service is refused with 401.
func TestSPIFFEModeRefusesBadCredentials(t *testing.T) {
	s := startSPIFFE(t, workload.SPIFFE)
	now := time.Now()
	user, property := s.td.ID(t, "user-service"), s.td.ID(t, "property-service")
	cases := []struct{ name, credential, reason string }{
		{"a user's login JWT", s.issuer.Token(t, 7, true), "invalid_jwt_svid"},
		{"a JWT-SVID for another audience", s.td.JWTSVID(t, "user-service", user, s.td.ID(t, "billing"), now, now.Add(time.Minute)),
			"invalid_jwt_svid"},
		{"an expired JWT-SVID", s.td.JWTSVID(t, "user-service", user, property, now.Add(-10*time.Minute), now.Add(-5*time.Minute)),
			"invalid_jwt_svid"},
		{"a JWT-SVID of another workload", s.svid(t, "reporting"), "subject_mismatch"},
		{"a JWT-SVID signed by another trust domain", s.evil.JWTSVID(t, "user-service", user, property, now, now.Add(time.Minute)),
			"invalid_jwt_svid"},
		{"a JWT-SVID living an hour", s.td.JWTSVID(t, "user-service", user, property, now, now.Add(time.Hour)), "jwt_svid_lifetime"},
		{"the static token of token mode", goodToken, "invalid_jwt_svid"},
		{"nothing", "", "missing"},
	}
	client := s.caller(t, "user-service")
	for _, c := range cases {
		before := len(s.logs.Lines("internal call rejected"))
		r, err := testenv.TryWith(client, "GET", s.url, nil, internalauth.Header, c.credential)
		if err != nil || r.Status != 401 {
			t.Fatalf("%s: %v %d", c.name, err, r.Status)
		}
		warns := s.logs.Lines("internal call rejected")
		if len(warns) != before+1 || warns[before]["reason"] != c.reason || warns[before]["client_ip"] != "127.0.0.1" {
			t.Fatalf("%s: want one WARN line with reason %s, got %v", c.name, c.reason, warns[before:])
		}
	}
	if len(s.logs.Lines("internal call")) != 0 {
		t.Fatal("a refused credential was served")
	}
	if strings.Contains(s.logs.String(), goodToken) {
		t.Fatal("a credential appears in the logs")
	}
}

// A workload of the trust domain with its own valid identity, but not named
// in the operation's x-allowed-callers, gets 403.
func TestSPIFFEModeForbidsCallersTheContractDoesNotAllow(t *testing.T) {
	s := startSPIFFE(t, workload.SPIFFE)
	r, err := testenv.TryWith(s.caller(t, "reporting"), "GET", s.url, nil, s.as(t, "reporting", s.svid(t, "reporting"))...)
	if err != nil || r.Status != 403 {
		t.Fatalf("reporting: %v %d %s", err, r.Status, r.Body)
	}
	warns := s.logs.Lines("internal call forbidden")
	if len(warns) != 1 || warns[0]["caller_id"] != "spiffe://example.org/reporting" || warns[0]["operation"] != "getUserProperties" {
		t.Fatalf("forbidden WARN: %v", warns)
	}
}

// token+spiffe serves both kinds of caller on one port, and says which
// credential each call used; a caller with a certificate cannot fall back
// to a token, and a JWT-SVID without the certificate is worth nothing.
func TestTokenPlusSPIFFEAcceptsBothAndAuditsWhich(t *testing.T) {
	s := startSPIFFE(t, workload.Both)
	plain := strings.Replace(s.url, "https://", "http://", 1)
	ok := []struct {
		name, url, credential, kind, callerID string
		client                                *http.Client
	}{
		{"token over plain HTTP", plain, goodToken, "token", "", testenv.Client},
		{"token over TLS without a certificate", s.url, goodToken, "token", "", s.td.NoCertClient(t)},
		{"JWT-SVID over mutual TLS", s.url, s.svid(t, "user-service"), "jwt-svid", "spiffe://example.org/user-service",
			s.caller(t, "user-service")},
	}
	for i, c := range ok {
		var headers []string
		if c.kind == "jwt-svid" {
			headers = s.as(t, "user-service", c.credential)
		} else {
			headers = s.claimsCall(t, c.credential, 7)
		}
		r, err := testenv.TryWith(c.client, "GET", c.url, nil, headers...)
		if err != nil || r.Status != 200 {
			t.Fatalf("%s: %v %d", c.name, err, r.Status)
		}
		audits := s.logs.Lines("internal call")
		if len(audits) != i+1 || audits[i]["credential"] != c.kind || audits[i]["caller_id"] != c.callerID ||
			audits[i]["caller"] != "user-service" {
			t.Fatalf("%s: audit %v", c.name, audits)
		}
	}
	refused := []struct {
		name, url, credential, reason string
		client                        *http.Client
	}{
		{"token on a connection with a certificate", s.url, goodToken, "invalid_jwt_svid", s.caller(t, "user-service")},
		{"JWT-SVID over plain HTTP", plain, s.svid(t, "user-service"), "invalid", testenv.Client},
	}
	for _, c := range refused {
		r, err := testenv.TryWith(c.client, "GET", c.url, nil, internalauth.Header, c.credential)
		if err != nil || r.Status != 401 {
			t.Fatalf("%s: %v %d", c.name, err, r.Status)
		}
		warns := s.logs.Lines("internal call rejected")
		if warns[len(warns)-1]["reason"] != c.reason {
			t.Fatalf("%s: reason %v", c.name, warns[len(warns)-1])
		}
	}
	// A certificate of another trust domain is refused at the handshake even here.
	now := time.Now()
	stranger := s.evil.Client(t, "user-service", now.Add(-time.Minute), now.Add(time.Hour), s.td)
	if r, err := testenv.TryWith(stranger, "GET", s.url, nil, internalauth.Header, goodToken); err == nil {
		t.Fatalf("foreign certificate accepted: %d", r.Status)
	}
}

func TestModesConfiguration(t *testing.T) {
	bad := map[string]map[string]string{
		"INTERNAL_AUTH":           {"INTERNAL_AUTH": "mtls", "INTERNAL_SERVICE_TOKEN": goodToken},
		"INTERNAL_SERVICE_TOKEN":  {"INTERNAL_AUTH": "spiffe", "INTERNAL_SERVICE_TOKEN": goodToken},
		"INTERNAL_SERVICE_TOKENS": {"INTERNAL_AUTH": "spiffe", "INTERNAL_SERVICE_TOKENS": "user-service=" + otherToken},
		"INTERNAL_SERVICE_TOKEN ": {"INTERNAL_AUTH": "token+spiffe"},
		// Issue 28: the token it calls the user service with is required in token
		// mode, refused in spiffe mode, and never one it accepts.
		"PROPERTY_SERVICE_TOKEN":   {"INTERNAL_SERVICE_TOKEN": goodToken},
		"PROPERTY_SERVICE_TOKEN ":  {"INTERNAL_AUTH": "spiffe", "PROPERTY_SERVICE_TOKEN": ownToken},
		"PROPERTY_SERVICE_TOKEN  ": {"INTERNAL_SERVICE_TOKEN": goodToken, "PROPERTY_SERVICE_TOKEN": goodToken},
		"PROPERTY_SERVICE_TOKEN   ": {"INTERNAL_SERVICE_TOKEN": goodToken, "INTERNAL_SERVICE_TOKENS": "reporting=" + otherToken,
			"PROPERTY_SERVICE_TOKEN": otherToken},
		"USER_SERVICE_INTERNAL_URL": {"INTERNAL_AUTH": "spiffe", "USER_SERVICE_INTERNAL_URL": "http://127.0.0.1:9001"},
		"USER_SPIFFE_ID":            {"INTERNAL_AUTH": "spiffe", "USER_SPIFFE_ID": "https://user"},
	}
	for name, vars := range bad {
		_, err := property.LoadConfig(func(k string) string { return vars[k] })
		if err == nil || !strings.Contains(err.Error(), strings.TrimSpace(name)) {
			t.Fatalf("%s: %v", name, err)
		}
		if strings.Contains(err.Error(), goodToken) || strings.Contains(err.Error(), otherToken) || strings.Contains(err.Error(), ownToken) {
			t.Fatalf("%s: the error quotes a token", name)
		}
	}
	cfg, err := property.LoadConfig(func(k string) string { return map[string]string{"INTERNAL_AUTH": "spiffe"}[k] })
	if err != nil || cfg.Internal.Mode != workload.SPIFFE || len(cfg.Internal.Accepted) != 0 ||
		cfg.Internal.Identity.Dir != "./data/identity/property-service" {
		t.Fatalf("spiffe mode: %+v %v", cfg, err)
	}
	// Rotation: a second token for the same caller.
	cfg, err = property.LoadConfig(func(k string) string {
		return map[string]string{"INTERNAL_SERVICE_TOKEN": goodToken, "INTERNAL_SERVICE_TOKENS": "user-service=" + otherToken,
			"PROPERTY_SERVICE_TOKEN": ownToken}[k]
	})
	if err != nil || cfg.Internal.Mode != workload.Tokens || len(cfg.Internal.Accepted) != 2 ||
		cfg.Internal.Accepted[1].Name != property.PrimaryCaller {
		t.Fatalf("token mode: %+v %v", cfg.Internal.Accepted, err)
	}
}

// The JWT-SVID's time claims are checked with a leeway of internalauth.SVIDLeeway
// (5 s), not the JOSE library's default minute: one expired 6 s ago, or
// issued 10 s in the future, is refused with a reason; one expired 3 s ago is
// still taken (the clocks of two hosts may differ by that much).
func TestSPIFFEModeChecksTimeWithAFewSecondsOfLeeway(t *testing.T) {
	s := startSPIFFE(t, workload.SPIFFE)
	now := time.Now()
	user, property := s.td.ID(t, "user-service"), s.td.ID(t, "property-service")
	client := s.caller(t, "user-service")
	cases := []struct {
		name     string
		iat, exp time.Time
		status   int
		reason   string
	}{
		{"expired 50 s ago", now.Add(-2 * time.Minute), now.Add(-50 * time.Second), 401, "jwt_svid_expired"},
		{"expired 6 s ago", now.Add(-time.Minute), now.Add(-6 * time.Second), 401, "jwt_svid_expired"},
		{"issued 10 s in the future", now.Add(10 * time.Second), now.Add(time.Minute), 401, "jwt_svid_not_yet_valid"},
		{"expired 3 s ago", now.Add(-time.Minute), now.Add(-3 * time.Second), 200, ""},
		{"issued 3 s in the future", now.Add(3 * time.Second), now.Add(time.Minute), 200, ""},
	}
	for _, c := range cases {
		before := len(s.logs.Lines("internal call rejected"))
		svid := s.td.JWTSVID(t, "user-service", user, property, c.iat, c.exp)
		r, err := testenv.TryWith(client, "GET", s.url, nil, s.as(t, "user-service", svid)...)
		if err != nil || r.Status != c.status {
			t.Fatalf("%s: %v %d, want %d", c.name, err, r.Status, c.status)
		}
		warns := s.logs.Lines("internal call rejected")
		if c.reason == "" {
			if len(warns) != before {
				t.Fatalf("%s: accepted but logged %v", c.name, warns[before:])
			}
			continue
		}
		if len(warns) != before+1 || warns[before]["reason"] != c.reason {
			t.Fatalf("%s: want one WARN line with reason %s, got %v", c.name, c.reason, warns[before:])
		}
	}
}

// The internal failure budget of a connection with a verified client
// certificate is its SPIFFE ID's, not its IP's: a co-located process (or a
// NAT) guessing tokens over plain HTTP, or another workload of the trust
// domain sending bad JWT-SVIDs, spends its own budget and never the real
// caller's. A caller that guesses on its own certificate still runs out.
func TestFailureBudgetOfACertificateIsItsSPIFFEIDs(t *testing.T) {
	for _, mode := range []workload.Mode{workload.Both, workload.SPIFFE} {
		t.Run(string(mode), func(t *testing.T) {
			s := startSPIFFEWith(t, mode, func(c *property.Config) { c.TokenFailures = property.DefaultTokenFailures })
			budget := property.DefaultTokenFailures.Count
			type guesser struct {
				name  string
				guess func() (testenv.Response, error)
			}
			var guessers []guesser
			if mode == workload.Both {
				guessers = append(guessers, guesser{"plain HTTP", func() (testenv.Response, error) {
					return testenv.Try("GET", strings.Replace(s.url, "https://", "http://", 1), nil, internalauth.Header,
						strings.Repeat("g", 40))
				}})
			}
			guessers = append(guessers, guesser{"another workload's certificate", func() (testenv.Response, error) {
				return testenv.TryWith(s.caller(t, "reporting"), "GET", s.url, nil, internalauth.Header, "not-a-jwt-svid")
			}})
			for _, g := range guessers {
				got := map[int]int{}
				for i := 0; i < budget+2; i++ {
					r, err := g.guess()
					if err != nil {
						t.Fatalf("%s: guess %d: %v", g.name, i, err)
					}
					got[r.Status]++
				}
				if got[401] != budget || got[429] != 2 {
					t.Fatalf("%s: %d guesses, budget %d: %v", g.name, budget+2, budget, got)
				}
			}
			user := s.caller(t, "user-service")
			if r, err := testenv.TryWith(user, "GET", s.url, nil, s.as(t, "user-service", s.svid(t, "user-service"))...); err != nil ||
				r.Status != 200 {
				t.Fatalf("the real caller after the guessing: %v %d %s", err, r.Status, r.Body)
			}
			got := map[int]int{}
			for i := 0; i < budget+1; i++ {
				r, err := testenv.TryWith(user, "GET", s.url, nil, internalauth.Header, "not-a-jwt-svid")
				if err != nil {
					t.Fatal(err)
				}
				got[r.Status]++
			}
			if got[401] != budget || got[429] != 1 {
				t.Fatalf("the caller's own %d bad JWT-SVIDs: %v", budget+1, got)
			}
		})
	}
}

// A trust-bundle rotation holds for every connection, resumed or not: go-spiffe
// verifies a client certificate in VerifyPeerCertificate, which Go does not
// call when a TLS session is resumed, so the internal listener resumes no
// sessions. After the bundle is rotated away from the CA that issued the user
// service's certificate, a client holding a session ticket from before is
// refused like one making a full handshake.
func TestBundleRotationIsNotSkippedByResumingASession(t *testing.T) {
	for _, mode := range []workload.Mode{workload.SPIFFE, workload.Both} {
		t.Run(string(mode), func(t *testing.T) {
			s := startSPIFFE(t, mode)
			now := time.Now()
			client := s.td.ResumingClient(t, "user-service", now.Add(-time.Minute), now.Add(time.Hour), s.td)
			get := func() (*http.Response, error) {
				req, err := http.NewRequest("GET", s.url, nil)
				if err != nil {
					t.Fatal(err)
				}
				h := s.as(t, "user-service", s.svid(t, "user-service"))
				req.Header.Set(h[0], h[1])
				req.Header.Set(h[2], h[3])
				resp, err := client.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
				}
				client.CloseIdleConnections() // the next call makes a new connection
				return resp, err
			}
			for i := range 2 {
				resp, err := get()
				if err != nil || resp.StatusCode != 200 {
					t.Fatalf("call %d before the rotation: %v", i, err)
				}
				if resp.TLS.DidResume {
					t.Errorf("call %d before the rotation resumed a TLS session", i)
				}
			}

			// The trust domain gets a new CA; the property service keeps its own
			// X.509-SVID (which the client still trusts) but trusts only the new CA.
			rotated := testenv.NewTrustDomain(t, "example.org", "property-service")
			if err := identity.WriteDir(s.dir, map[string][]byte{identity.BundleFile: rotated.CA.BundlePEM()}); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for len(s.logs.Lines("identity rotated")) == 0 {
				if time.Now().After(deadline) {
					t.Fatal("the property service did not pick up the new bundle")
				}
				time.Sleep(50 * time.Millisecond)
			}
			fresh := s.td.Client(t, "user-service", now.Add(-time.Minute), now.Add(time.Hour), s.td)
			if r, err := testenv.TryWith(fresh, "GET", s.url, nil, internalauth.Header, s.svid(t, "user-service")); err == nil {
				t.Fatalf("a full handshake with the old CA's certificate after the rotation: %d", r.Status)
			}
			if resp, err := get(); err == nil {
				t.Fatalf("a resumed session with the old CA's certificate after the rotation: %d, resumed %v",
					resp.StatusCode, resp.TLS.DidResume)
			}
		})
	}
}
