package property_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/jeeves4service/jeeves4service/internal/testkit/outbox"
	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/internalauth"
	"github.com/jeeves4service/jeeves4service/services/common/problem"
	"github.com/jeeves4service/jeeves4service/services/common/workload"
	"github.com/jeeves4service/jeeves4service/services/property"
)

const (
	goodToken  = "test-internal-token-0123456789abcdefghij"
	otherToken = "second-caller-token-0123456789abcdefghij"
	// ownToken is the property service's token for the user service's
	// internal listener (PROPERTY_SERVICE_TOKEN), which it never accepts.
	ownToken = "property-own-token-0123456789abcdefghijk"
)

type env struct {
	public, internal string
	logs             *testenv.LogBuffer
	issuer           *testenv.Issuer
	svc              *property.Service
	dbURL            string
	// mail holds the invitations' mails (their secrets), unless the test
	// set a mailer of its own.
	mail *outbox.Outbox
}

func start(t testing.TB, eng testenv.Engine) *env {
	t.Helper()
	return startWith(t, eng.NewURL(t), nil)
}

// startWith starts a property service on dbURL; adjust may change its config.
func startWith(t testing.TB, dbURL string, adjust func(*property.Config)) *env {
	t.Helper()
	log, logs := testenv.Logger()
	e := startLogged(t, dbURL, adjust, log)
	e.logs = logs
	return e
}

// startLogged is startWith writing to log.
func startLogged(t testing.TB, dbURL string, adjust func(*property.Config), log *slog.Logger) *env {
	t.Helper()
	issuer := testenv.NewIssuer(t)
	primary, err := internalauth.NewToken("user-service", goodToken)
	if err != nil {
		t.Fatal(err)
	}
	second, err := internalauth.NewToken("reporting", otherToken)
	if err != nil {
		t.Fatal(err)
	}
	cfg := property.Config{PublicAddr: "127.0.0.1:0", InternalAddr: "127.0.0.1:0", DatabaseURL: dbURL,
		Internal: workload.Config{Name: "property-service", Accepted: []internalauth.Token{primary, second}},
		JWKSURL:  issuer.JWKSURL, JWT: issuer.Settings, Mailer: &outbox.Outbox{}}
	box, _ := cfg.Mailer.(*outbox.Outbox)
	if adjust != nil {
		adjust(&cfg)
	}
	svc, err := property.New(context.Background(), cfg, log)
	if err != nil {
		t.Fatalf("start property service: %v", err)
	}
	testenv.Serve(t, svc)
	return &env{
		public:   "http://" + svc.Server.Addr("public"),
		internal: "http://" + svc.Server.Addr("internal"),
		issuer:   issuer,
		svc:      svc,
		dbURL:    dbURL,
		mail:     box,
	}
}

// each runs fn once per engine, each run with its own database.
func each(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, eng := range testenv.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) { fn(t, start(t, eng)) })
	}
}

func (e *env) createProperty(t *testing.T, owner int64, name string) int64 {
	t.Helper()
	resp := testenv.Do(t, "POST", e.public+"/api/properties/", map[string]any{"name": name, "address": "1 Test Street"},
		testenv.Bearer(e.issuer.Token(t, owner, false))...)
	if resp.Status != 201 {
		t.Fatalf("create property: %d %s", resp.Status, resp.Body)
	}
	var p struct{ ID int64 }
	resp.JSON(t, &p)
	return p.ID
}

// callerNames are the callers the test tokens name.
var callerNames = map[string]string{goodToken: "user-service", otherToken: "reporting"}

// claimsCall are the headers of a claims call for userID made with the
// static token: the token, and a subject token for userID, this operation,
// the property service and the token's caller, as the user service mints it.
func (e *env) claimsCall(t testing.TB, token string, userID int64) []string {
	t.Helper()
	return []string{internalauth.Header, token, internalauth.SubjectHeader,
		e.issuer.SubjectToken(t, userID, "property-service", "getUserProperties", callerNames[token])}
}

func userPropertiesURL(e *env, userID string) string {
	return e.internal + "/api/internal/properties/users/" + userID
}

func TestInternalEndpointRequiresToken(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		cases := []struct {
			name, path string
			headers    []string
			reason     string
		}{
			{"missing token", "1", nil, "missing"},
			{"wrong token", "1", []string{internalauth.Header, strings.Repeat("x", 40)}, "invalid"},
			{"token prefix", "1", []string{internalauth.Header, goodToken[:20]}, "invalid"},
			{"token with suffix", "1", []string{internalauth.Header, goodToken + "x"}, "invalid"},
			// Security is checked before parameters: a caller without the token
			// must not learn how user_id is validated.
			{"missing token, bad id", "abc", nil, "missing"},
			{"wrong token, bad id", "-1", []string{internalauth.Header, "nope"}, "invalid"},
			{"bearer instead of token", "1", testenv.Bearer(goodToken), "missing"},
		}
		for _, c := range cases {
			resp := testenv.Do(t, "GET", userPropertiesURL(e, c.path), nil, c.headers...)
			if resp.Status != 401 {
				t.Fatalf("%s: status %d, want 401 (%s)", c.name, resp.Status, resp.Body)
			}
			if p := resp.Problem(t); p["detail"] != "Invalid internal service token" {
				t.Fatalf("%s: detail %v", c.name, p["detail"])
			}
		}
		warns := e.logs.Lines("internal call rejected")
		if len(warns) != len(cases) {
			t.Fatalf("%d WARN lines for %d rejected calls", len(warns), len(cases))
		}
		for i, w := range warns {
			if w["level"] != "WARN" || w["reason"] != cases[i].reason || w["client_ip"] != "127.0.0.1" ||
				w["method"] != "GET" || w["path"] == nil || w["request_id"] == "" {
				t.Fatalf("rejection log line %d incomplete: %v", i, w)
			}
		}
		if audits := e.logs.Lines("internal call"); len(audits) != 0 {
			t.Fatalf("rejected calls produced audit success lines: %v", audits)
		}
	})
}

func TestInternalEndpointValidatesAfterAuth(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		for _, id := range []string{"abc", "0", "-5", "9223372036854775808", "1.5"} {
			resp := testenv.Do(t, "GET", userPropertiesURL(e, id), nil, e.claimsCall(t, goodToken, 1)...)
			if resp.Status != 400 {
				t.Fatalf("user_id %q: status %d, want 400 (%s)", id, resp.Status, resp.Body)
			}
			p := resp.Problem(t)
			if !strings.Contains(fmt.Sprint(p["errors"]), "user_id") {
				t.Fatalf("user_id %q: problem does not name the field: %v", id, p)
			}
		}
		// The contract promises 401 before anything else about the request is
		// looked at: a secret in the query string is refused (400) only once
		// the caller is known.
		withSecret := userPropertiesURL(e, "1") + "?token=" + strings.Repeat("s", 40)
		if r := testenv.Do(t, "GET", withSecret, nil); r.Status != 401 {
			t.Fatalf("no token, a secret in the query: %d, want 401 first", r.Status)
		}
		if r := testenv.Do(t, "GET", withSecret, nil, e.claimsCall(t, goodToken, 1)...); r.Status != 400 {
			t.Fatalf("good token, a secret in the query: %d, want 400", r.Status)
		}
	})
}

func TestInternalEndpointReturnsPropertiesAndAudits(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		a := e.createProperty(t, 7, "Seaside cottage")
		b := e.createProperty(t, 8, "Town flat")
		e.addMember(t, 8, b, 7, "guest")
		resp := testenv.Do(t, "GET", userPropertiesURL(e, "7"), nil, append(e.claimsCall(t, goodToken, 7), "X-Request-ID", "req-abc-123")...)
		if resp.Status != 200 {
			t.Fatalf("status %d: %s", resp.Status, resp.Body)
		}
		var got struct {
			UserID     int64 `json:"user_id"`
			TotalCount int   `json:"total_count"`
			Properties []struct {
				PropertyID   int64  `json:"property_id"`
				PropertyName string `json:"property_name"`
				AccessLevel  string `json:"access_level"`
			}
		}
		resp.JSON(t, &got)
		want := fmt.Sprintf("[{%d Seaside cottage owner} {%d Town flat guest}]", a, b)
		if got.UserID != 7 || got.TotalCount != 2 || fmt.Sprint(got.Properties) != want {
			t.Fatalf("got %+v, want %s", got, want)
		}
		audits := e.logs.Lines("internal call")
		if len(audits) != 1 {
			t.Fatalf("want 1 audit line, got %d", len(audits))
		}
		a0 := audits[0]
		if a0["level"] != "INFO" || a0["caller"] != "user-service" || a0["credential"] != "token" || a0["caller_id"] != "" ||
			a0["user_id"] != "7" || a0["client_ip"] != "127.0.0.1" ||
			a0["request_id"] != "req-abc-123" || a0["status"] != float64(200) || a0["duration_us"] == nil || a0["operation"] != "getUserProperties" {
			t.Fatalf("audit line incomplete: %v", a0)
		}
		for _, secret := range []string{goodToken, otherToken, goodToken[:16]} {
			if strings.Contains(e.logs.String(), secret) {
				t.Fatalf("a token appears in the logs")
			}
		}
	})
}

func TestPublicListenerHasNoInternalRoutes(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		for _, path := range []string{"/api/internal/properties/users/1", "/api/internal/", "/api/internal/properties/users/abc"} {
			// Unchecked: these paths belong to the internal contract, sent on purpose to the wrong listener.
			resp := testenv.DoUnchecked(t, "GET", e.public+path, nil, internalauth.Header, goodToken)
			if resp.Status != 404 {
				t.Fatalf("public %s: status %d, want 404", path, resp.Status)
			}
			resp.Problem(t)
		}
		// and the internal listener serves nothing public
		resp := testenv.DoUnchecked(t, "GET", e.internal+"/api/properties/", nil, testenv.Bearer(e.issuer.Token(t, 1, false))...)
		if resp.Status != 404 {
			t.Fatalf("internal listener served a public route: %d", resp.Status)
		}
	})
}

func TestEachListenerServesOnlyItsOwnContract(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		pubYAML := testenv.Do(t, "GET", e.public+"/openapi.yaml", nil)
		pubJSON := testenv.Do(t, "GET", e.public+"/openapi.json", nil)
		pubDocs := testenv.Do(t, "GET", e.public+"/docs", nil)
		for name, r := range map[string]testenv.Response{"yaml": pubYAML, "json": pubJSON, "docs": pubDocs} {
			if r.Status != 200 {
				t.Fatalf("public %s: %d", name, r.Status)
			}
			for _, leak := range []string{"/api/internal", "X-Internal-Token", "getUserProperties", "jeeves4service internal API"} {
				if strings.Contains(string(r.Body), leak) {
					t.Fatalf("public %s reveals %q", name, leak)
				}
			}
		}
		if !strings.Contains(string(pubYAML.Body), "operationId: createProperty") ||
			!strings.Contains(string(pubJSON.Body), `"operationId": "createProperty"`) {
			t.Fatal("public contract not served")
		}
		if csp := pubDocs.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Fatalf("docs page without a restrictive CSP: %q", csp)
		}
		intYAML := testenv.Do(t, "GET", e.internal+"/openapi.yaml", nil)
		intDocs := testenv.Do(t, "GET", e.internal+"/docs", nil)
		if intYAML.Status != 200 || !strings.Contains(string(intYAML.Body), "/api/internal/properties/users/{user_id}") ||
			intDocs.Status != 200 || !strings.Contains(string(intDocs.Body), "jeeves4service internal API") {
			t.Fatalf("internal listener docs: %d %d", intYAML.Status, intDocs.Status)
		}
	})
}

// A valid token of a caller the contract does not list for the operation
// (x-allowed-callers) gets 403, and the refusal is logged with its name.
func TestTokenOfACallerNotAllowedGets403(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		r := testenv.Do(t, "GET", userPropertiesURL(e, "7"), nil, e.claimsCall(t, otherToken, 7)...)
		if r.Status != 403 || r.Problem(t)["detail"] != "This caller may not call this operation." ||
			r.Problem(t)["type"] != problem.TypeCallerForbidden || aboutTheUser(r) {
			t.Fatalf("reporting: %d %s", r.Status, r.Body)
		}
		warns := e.logs.Lines("internal call forbidden")
		if len(warns) != 1 || warns[0]["caller"] != "reporting" || warns[0]["credential"] != "token" {
			t.Fatalf("forbidden WARN: %v", warns)
		}
	})
}
