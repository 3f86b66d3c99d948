package user_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/internalauth"
	"github.com/jeeves4service/jeeves4service/services/user"
	"github.com/jeeves4service/jeeves4service/services/user/adapters"
	"github.com/jeeves4service/jeeves4service/services/user/app"
)

const token = "user-test-internal-token-0123456789abcdef"

// propertyToken is the property service's token, which the user service's
// internal listener accepts (never token, which the user service presents).
const propertyToken = "property-test-token-0123456789abcdefghij"

type env struct {
	url  string
	svc  *user.Service
	logs *testenv.LogBuffer
}

func start(t *testing.T, dbURL, propertyURL string, extra map[string]string) *env {
	t.Helper()
	vars := map[string]string{"USER_PUBLIC_ADDR": "127.0.0.1:0", "USER_ADMIN_ADDR": "127.0.0.1:0", "USER_DATABASE_URL": dbURL,
		"INTERNAL_SERVICE_TOKEN": token, "PROPERTY_SERVICE_URL": propertyURL,
		"USER_INTERNAL_ADDR": "127.0.0.1:0", "PROPERTY_SERVICE_TOKEN": propertyToken,
		"JWT_SIGNING_KEY_FILE": filepath.Join(t.TempDir(), "k.pem")}
	for k, v := range extra {
		vars[k] = v
	}
	cfg, err := user.LoadConfig(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	log, logs := testenv.Logger()
	svc, err := user.New(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Serve(t, svc)
	return &env{url: "http://" + svc.Server.Addr("public"), svc: svc, logs: logs}
}

func (e *env) register(t *testing.T, email string) {
	t.Helper()
	r := testenv.Do(t, "POST", e.url+"/api/users/register", map[string]string{"email": email,
		"password": "correct horse battery", "first_name": "A", "last_name": "B"})
	if r.Status != 201 {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
}

type loginResult struct {
	Token              string `json:"token"`
	PropertiesIncluded bool   `json:"properties_included"`
}

func (e *env) login(t *testing.T, email string) (loginResult, time.Duration) {
	t.Helper()
	start := time.Now()
	r := testenv.Do(t, "POST", e.url+"/api/users/authenticate", map[string]string{"email": email, "password": "correct horse battery"})
	took := time.Since(start)
	if r.Status != 200 {
		t.Fatalf("login: %d %s", r.Status, r.Body)
	}
	var out loginResult
	r.JSON(t, &out)
	return out, took
}

// fakeProperty is a stand-in property service whose behaviour a test sets.
type fakeProperty struct {
	hits     atomic.Int64
	mu       sync.Mutex
	behave   func(w http.ResponseWriter, r *http.Request)
	srv      *httptest.Server
	sawToken atomic.Bool
}

func newFake(t *testing.T, behave func(w http.ResponseWriter, r *http.Request)) *fakeProperty {
	f := &fakeProperty{behave: behave}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		if r.Header.Get(internalauth.Header) == token {
			f.sawToken.Store(true)
		}
		f.mu.Lock()
		b := f.behave
		f.mu.Unlock()
		b(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeProperty) set(b func(w http.ResponseWriter, r *http.Request)) {
	f.mu.Lock()
	f.behave = b
	f.mu.Unlock()
}

func goodAnswer(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/api/internal/properties/users/")
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(
		[]byte(`{"user_id":` + id + `,"properties":[{"property_id":1,"property_name":"Cottage","access_level":"owner"}],"total_count":1}`),
	)
}

func jsonAnswer(status int, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

func TestLoginSurvivesPropertyServiceFaults(t *testing.T) {
	hang := func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
	slow := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(1500 * time.Millisecond):
			goodAnswer(w, r)
		case <-r.Context().Done():
		}
	}
	cases := []struct {
		name   string
		behave func(http.ResponseWriter, *http.Request)
		down   bool
	}{
		{"down", nil, true},
		{"hangs", hang, false},
		{"answers after 1.5s (budget 1s)", slow, false},
		{"500", jsonAnswer(500, `{"type":"x","title":"x","status":500,"detail":"x"}`), false},
		{"401", jsonAnswer(401, `{"type":"x","title":"x","status":401,"detail":"Invalid internal service token"}`), false},
		{"malformed JSON", jsonAnswer(200, `{"user_id": 1, "properties": [`), false},
		{
			"breaks the contract: bad access level",
			jsonAnswer(200, `{"user_id":1,"properties":[{"property_id":1,"property_name":"x","access_level":"king"}],"total_count":1}`),
			false,
		},
		{"breaks the contract: other user", jsonAnswer(200, `{"user_id":999,"properties":[],"total_count":0}`), false},
		{"breaks the contract: not JSON", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("<html>")) }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			url := "http://127.0.0.1:1" // nothing listens on port 1: connection refused
			if !c.down {
				url = newFake(t, c.behave).srv.URL
			}
			e := start(t, "sqlite:"+filepath.Join(t.TempDir(), "u.db"), url, map[string]string{"PROPERTY_CALL_TIMEOUT": "1s"})
			e.register(t, "a@example.com")
			got, took := e.login(t, "a@example.com")
			if got.PropertiesIncluded {
				t.Fatalf("properties_included true despite %s", c.name)
			}
			if took > 1500*time.Millisecond {
				t.Fatalf("login took %v; the budget is 1s", took)
			}
			warns := e.logs.Lines("login without property claims")
			if len(warns) != 1 || strings.Contains(e.logs.String(), token) {
				t.Fatalf("want one WARN line without the token, got %v", warns)
			}
		})
	}
}

func TestCircuitBreakerOpensAndCloses(t *testing.T) {
	fake := newFake(t, jsonAnswer(500, `{}`))
	e := start(t, "sqlite:"+filepath.Join(t.TempDir(), "u.db"), fake.srv.URL,
		map[string]string{"PROPERTY_BREAKER_FAILURES": "3", "PROPERTY_BREAKER_OPEN": "3s"})
	e.register(t, "a@example.com")
	for i := 0; i < 3; i++ {
		if got, _ := e.login(t, "a@example.com"); got.PropertiesIncluded {
			t.Fatal("included despite 500")
		}
	}
	if e.svc.Property.State() != "open" {
		t.Fatalf("breaker %s after 3 failed logins, want open", e.svc.Property.State())
	}
	opened := time.Now()
	before := fake.hits.Load()
	for i := 0; i < 3; i++ { // well within the open period, however slow the machine
		if got, _ := e.login(t, "a@example.com"); got.PropertiesIncluded {
			t.Fatal("included while open")
		}
	}
	if fake.hits.Load() != before {
		t.Fatalf("property service was called %d times while the circuit was open", fake.hits.Load()-before)
	}
	// The metrics and the log name the service whose breaker opened (issue 33).
	metrics := "http://" + e.svc.Server.Addr("admin") + "/metrics"
	m := testenv.Scrape(t, metrics)
	for series, want := range map[string]string{
		`upstream_circuit_state{service="user-service",upstream="property-service"}`:         "2",
		`upstream_circuit_opens_total{service="user-service",upstream="property-service"}`:   "1",
		`upstream_circuit_refused_total{service="user-service",upstream="property-service"}`: "3",
	} {
		if m[series] != want {
			t.Errorf("while open, %s = %q, want %s", series, m[series], want)
		}
	}
	if opened := e.logs.Lines("circuit breaker opened: calls to the upstream are refused without trying"); len(opened) != 1 ||
		opened[0]["upstream"] != "property-service" {
		t.Fatalf("the log of the opened breaker: %v", opened)
	}
	// The service recovers; after the open period one trial call closes the circuit.
	fake.set(goodAnswer)
	time.Sleep(time.Until(opened.Add(3100 * time.Millisecond)))
	if got, _ := e.login(t, "a@example.com"); !got.PropertiesIncluded {
		t.Fatal("properties not included after recovery")
	}
	if e.svc.Property.State() != "closed" {
		t.Fatalf("breaker %s after recovery, want closed", e.svc.Property.State())
	}
	if m := testenv.Scrape(t, metrics); m[`upstream_circuit_state{service="user-service",upstream="property-service"}`] != "0" {
		t.Fatalf("after recovery the state gauge says %q", m[`upstream_circuit_state{service="user-service",upstream="property-service"}`])
	}
	if !fake.sawToken.Load() {
		t.Fatal("the client never sent X-Internal-Token")
	}
}

// Issue 17, attack 7: a login whose client gives up during the property call
// used to count as a property-service failure, so five impatient clients
// opened the breaker for everyone. A caller's own cancellation is not the
// property service's failure.
func TestCallerDisconnectsDoNotOpenTheBreaker(t *testing.T) {
	slow := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(1500 * time.Millisecond):
			goodAnswer(w, r)
		case <-r.Context().Done():
		}
	}
	fake := newFake(t, slow)
	e := start(t, "sqlite:"+filepath.Join(t.TempDir(), "u.db"), fake.srv.URL,
		map[string]string{"PROPERTY_BREAKER_FAILURES": "5", "PROPERTY_BREAKER_OPEN": "1m"})
	e.register(t, "a@example.com")
	for i := 0; i < 5; i++ {
		before := fake.hits.Load()
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "POST", e.url+"/api/users/authenticate",
			strings.NewReader(`{"email":"a@example.com","password":"correct horse battery"}`))
		req.Header.Set("Content-Type", "application/json")
		go func() {
			for fake.hits.Load() == before { // the login has reached the property call
				time.Sleep(5 * time.Millisecond)
			}
			cancel() // the client disconnects
		}()
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			t.Fatalf("login %d: answered %d although the client left", i, resp.StatusCode)
		}
		cancel()
	}
	time.Sleep(100 * time.Millisecond) // let the server notice the last disconnect
	if state := e.svc.Property.State(); state != "closed" {
		t.Fatalf("breaker %s after five clients disconnected mid-login, want closed", state)
	}
	fake.set(goodAnswer)
	if got, _ := e.login(t, "a@example.com"); !got.PropertiesIncluded {
		t.Fatal("the next login went without claims: the breaker counted the disconnects")
	}
}

func TestAccountOperations(t *testing.T) {
	for _, eng := range testenv.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			fake := newFake(t, goodAnswer)
			e := start(t, eng.NewURL(t), fake.srv.URL, nil)
			e.register(t, "Carol@Example.com")
			// Emails are case-insensitive: the same address cannot register twice.
			dup := testenv.Do(t, "POST", e.url+"/api/users/register", map[string]string{"email": "carol@example.com",
				"password": "another long password", "first_name": "C", "last_name": "D"})
			if dup.Status != 409 {
				t.Fatalf("duplicate register: %d %s", dup.Status, dup.Body)
			}
			short := testenv.Do(t, "POST", e.url+"/api/users/register", map[string]string{"email": "d@example.com",
				"password": "short", "first_name": "C", "last_name": "D"})
			if short.Status != 400 {
				t.Fatalf("short password: %d", short.Status)
			}
			got, _ := e.login(t, "carol@example.com")
			if !got.PropertiesIncluded {
				t.Fatal("properties not included with a healthy property service")
			}
			me := testenv.Do(t, "GET", e.url+"/api/users/me", nil, testenv.Bearer(got.Token)...)
			if me.Status != 200 || !strings.Contains(string(me.Body), `"email":"carol@example.com"`) ||
				strings.Contains(string(me.Body), "argon2") {
				t.Fatalf("me: %d %s", me.Status, me.Body)
			}
			if r := testenv.Do(t, "GET", e.url+"/api/users/me", nil); r.Status != 401 || r.Header.Get("WWW-Authenticate") == "" {
				t.Fatalf("me without token: %d", r.Status)
			}
			change := func(current, next string) int {
				return testenv.Do(t, "POST", e.url+"/api/users/change-password",
					map[string]string{"current_password": current, "new_password": next}, testenv.Bearer(got.Token)...).Status
			}
			if s := change("wrong current password", "a brand new passphrase"); s != 401 {
				t.Fatalf("change with wrong current: %d", s)
			}
			if s := change("correct horse battery", "a brand new passphrase"); s != 204 {
				t.Fatalf("change: %d", s)
			}
			for password, want := range map[string]int{"correct horse battery": 401, "a brand new passphrase": 200} {
				r := testenv.Do(t, "POST", e.url+"/api/users/authenticate", map[string]string{"email": "carol@example.com", "password": password})
				if r.Status != want {
					t.Fatalf("login with %q after the change: %d, want %d", password, r.Status, want)
				}
			}
			var jwks struct{ Keys []map[string]string }
			testenv.Do(t, "GET", e.url+"/.well-known/jwks.json", nil).JSON(t, &jwks)
			if len(jwks.Keys) != 1 || jwks.Keys[0]["kty"] != "OKP" || jwks.Keys[0]["alg"] != "EdDSA" || jwks.Keys[0]["d"] != "" {
				t.Fatalf("jwks: %+v", jwks)
			}
		})
	}
}

func TestConfigurationErrorsExit2(t *testing.T) {
	// Each case names the variable the one-line message must name.
	cases := map[string]map[string]string{
		"INTERNAL_SERVICE_TOKEN":  {},
		"INTERNAL_SERVICE_TOKEN ": {"INTERNAL_SERVICE_TOKEN": "short"},
		"USER_PUBLIC_ADDR":        {"INTERNAL_SERVICE_TOKEN": token, "USER_PUBLIC_ADDR": "nope"},
		"USER_DATABASE_URL":       {"INTERNAL_SERVICE_TOKEN": token, "USER_DATABASE_URL": "mysql://x"},
		"JWT_TTL":                 {"INTERNAL_SERVICE_TOKEN": token, "JWT_TTL": "forever"},
		"TRUSTED_PROXIES":         {"INTERNAL_SERVICE_TOKEN": token, "TRUSTED_PROXIES": "10.0.0.0/99"},
		"LOG_LEVEL":               {"INTERNAL_SERVICE_TOKEN": token, "LOG_LEVEL": "loud"},
		"PROPERTY_SERVICE_URL":    {"INTERNAL_SERVICE_TOKEN": token, "PROPERTY_SERVICE_URL": "ftp://x"},
		// Issue 33 (review): the claims call's answer is what the profiles
		// call trusts; plain http to another host lets the path rewrite it.
		"PROPERTY_SERVICE_URL  ":        {"INTERNAL_SERVICE_TOKEN": token, "PROPERTY_SERVICE_URL": "http://10.1.2.3:9002"},
		"JWT_MAX_PROPERTY_CLAIMS":       {"INTERNAL_SERVICE_TOKEN": token, "JWT_MAX_PROPERTY_CLAIMS": "-1"},
		"REGISTER_LIMIT_PER_IP":         {"INTERNAL_SERVICE_TOKEN": token, "REGISTER_LIMIT_PER_IP": "lots"},
		"PASSWORD_CHANGE_FAILURE_LIMIT": {"INTERNAL_SERVICE_TOKEN": token, "PASSWORD_CHANGE_FAILURE_LIMIT": "5"},
		"REFRESH_FAILURE_LIMIT_PER_IP":  {"INTERNAL_SERVICE_TOKEN": token, "REFRESH_FAILURE_LIMIT_PER_IP": "20"},
		"METRICS":                       {"INTERNAL_SERVICE_TOKEN": token, "METRICS": "maybe"},
		"SHUTDOWN_DELAY":                {"INTERNAL_SERVICE_TOKEN": token, "SHUTDOWN_DELAY": "soon"},
		"SHUTDOWN_DELAY ":               {"INTERNAL_SERVICE_TOKEN": token, "SHUTDOWN_DELAY": "-1s"},
		"REFUSAL_DELAY":                 {"INTERNAL_SERVICE_TOKEN": token, "REFUSAL_DELAY": "1"},
		"REFUSAL_DELAY ":                {"INTERNAL_SERVICE_TOKEN": token, "REFUSAL_DELAY": "-250ms"},
		"OTEL_EXPORTER_OTLP_ENDPOINT":   {"INTERNAL_SERVICE_TOKEN": token, "OTEL_EXPORTER_OTLP_ENDPOINT": "ftp://collector:4318"},
		"OTEL_EXPORTER_OTLP_ENDPOINT ":  {"INTERNAL_SERVICE_TOKEN": token, "OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"},
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": {"INTERNAL_SERVICE_TOKEN": token,
			"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://"},
		// The user service calls; token+spiffe is the property service's migration mode.
		"INTERNAL_AUTH":  {"INTERNAL_SERVICE_TOKEN": token, "INTERNAL_AUTH": "token+spiffe"},
		"INTERNAL_AUTH ": {"INTERNAL_AUTH": "mtls"},
		// spiffe mode has no static secret: one left configured is refused, not ignored.
		"INTERNAL_SERVICE_TOKEN  ": {"INTERNAL_AUTH": "spiffe", "INTERNAL_SERVICE_TOKEN": token},
		"PROPERTY_SERVICE_URL ":    {"INTERNAL_AUTH": "spiffe", "PROPERTY_SERVICE_URL": "http://127.0.0.1:9002"},
		"SPIFFE_ENDPOINT_SOCKET":   {"INTERNAL_AUTH": "spiffe", "SPIFFE_ENDPOINT_SOCKET": "/run/spire/agent.sock"},
		"PROPERTY_SPIFFE_ID":       {"INTERNAL_AUTH": "spiffe", "PROPERTY_SPIFFE_ID": "https://property"},
		"SPIFFE_DIR": {"INTERNAL_AUTH": "spiffe", "SPIFFE_DIR": filepath.Join(t.TempDir(), "none"),
			"USER_DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "u.db"), "JWT_SIGNING_KEY_FILE": filepath.Join(t.TempDir(), "k.pem")},
	}
	// Issue 28: the internal listener's token: required in token mode, refused
	// in spiffe mode, never the one the user service presents.
	cases["PROPERTY_SERVICE_TOKEN"] = map[string]string{"INTERNAL_SERVICE_TOKEN": token}
	cases["PROPERTY_SERVICE_TOKEN "] = map[string]string{"INTERNAL_SERVICE_TOKEN": token, "PROPERTY_SERVICE_TOKEN": "short"}
	cases["PROPERTY_SERVICE_TOKEN  "] = map[string]string{"INTERNAL_AUTH": "spiffe", "PROPERTY_SERVICE_TOKEN": propertyToken}
	cases["USER_INTERNAL_ADDR"] = map[string]string{"INTERNAL_SERVICE_TOKEN": token, "USER_INTERNAL_ADDR": "nope"}
	cases["INTERNAL_SERVICE_TOKEN   "] = map[string]string{"INTERNAL_SERVICE_TOKEN": token, "PROPERTY_SERVICE_TOKEN": token}
	// Issue 33: token mode's TLS, the property service's variables: a
	// certificate needs its key, and spiffe mode has its own TLS.
	cases["INTERNAL_TLS_KEY_FILE"] = map[string]string{"INTERNAL_SERVICE_TOKEN": token, "INTERNAL_TLS_CERT_FILE": "/etc/tls/tls.crt"}
	cases["INTERNAL_TLS_CA_FILE"] = map[string]string{"INTERNAL_AUTH": "spiffe", "INTERNAL_TLS_CA_FILE": "/etc/tls/ca.crt"}
	for name, vars := range cases {
		_, set := vars["PROPERTY_SERVICE_TOKEN"]
		if !set && !strings.HasPrefix(name, "PROPERTY_SERVICE_TOKEN") && vars["INTERNAL_AUTH"] != "spiffe" {
			vars["PROPERTY_SERVICE_TOKEN"] = propertyToken
		}
	}
	// The claims hop's escape hatch is for it alone, said out loud.
	if _, err := user.LoadConfig(func(k string) string {
		return map[string]string{"INTERNAL_SERVICE_TOKEN": token, "PROPERTY_SERVICE_TOKEN": propertyToken,
			"PROPERTY_SERVICE_URL": "http://10.1.2.3:9002", "PROPERTY_SERVICE_PLAIN_HTTP": "allow"}[k]
	}); err != nil {
		t.Fatalf("PROPERTY_SERVICE_PLAIN_HTTP=allow: %v", err)
	}
	for name, vars := range cases {
		var stderr bytes.Buffer
		code := user.Main(context.Background(), nil, func(k string) string { return vars[k] }, nil, &stderr, &stderr)
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		if code != 2 || len(lines) != 1 || !strings.Contains(lines[0], "configuration error") ||
			!strings.Contains(lines[0], strings.TrimSpace(name)+":") {
			t.Fatalf("%s: exit %d, stderr %q (want one line naming %s)", name, code, stderr.String(), strings.TrimSpace(name))
		}
		if vars["INTERNAL_SERVICE_TOKEN"] != "" && strings.Contains(stderr.String(), vars["INTERNAL_SERVICE_TOKEN"]) ||
			vars["PROPERTY_SERVICE_TOKEN"] != "" && strings.Contains(stderr.String(), vars["PROPERTY_SERVICE_TOKEN"]) {
			t.Fatalf("%s: the token was printed", name)
		}
	}
}

func TestCreateAdmin(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{"INTERNAL_SERVICE_TOKEN": token, "PROPERTY_SERVICE_TOKEN": propertyToken,
		"USER_DATABASE_URL":    "sqlite:" + filepath.Join(dir, "u.db"),
		"JWT_SIGNING_KEY_FILE": filepath.Join(dir, "k.pem")}
	getenv := func(k string) string { return vars[k] }
	var out, errOut bytes.Buffer
	code := user.Main(context.Background(), []string{"create-admin", "--email", "root@example.com"}, getenv,
		strings.NewReader("an admin passphrase\n"), &out, &errOut)
	if code != 0 || !strings.Contains(out.String(), "created admin root@example.com") {
		t.Fatalf("create-admin: %d %s %s", code, out.String(), errOut.String())
	}
	if strings.Contains(out.String()+errOut.String(), "an admin passphrase") {
		t.Fatal("password printed")
	}
	fake := newFake(t, goodAnswer)
	e := start(t, vars["USER_DATABASE_URL"], fake.srv.URL, map[string]string{"JWT_SIGNING_KEY_FILE": vars["JWT_SIGNING_KEY_FILE"]})
	r := testenv.Do(
		t,
		"POST",
		e.url+"/api/users/authenticate",
		map[string]string{"email": "root@example.com", "password": "an admin passphrase"},
	)
	var s loginResult
	r.JSON(t, &s)
	var me map[string]any
	testenv.Do(t, "GET", e.url+"/api/users/me", nil, testenv.Bearer(s.Token)...).JSON(t, &me)
	if me["is_admin"] != true {
		t.Fatalf("not an admin: %v", me)
	}
}

// emailProblem returns the one errors entry of a 400 problem.
func emailProblem(t *testing.T, r testenv.Response) map[string]any {
	t.Helper()
	if r.Status != 400 {
		t.Fatalf("status %d, want 400 (%s)", r.Status, r.Body)
	}
	errs, _ := r.Problem(t)["errors"].([]any)
	if len(errs) != 1 {
		t.Fatalf("errors %v, want one entry naming the field (%s)", errs, r.Body)
	}
	return errs[0].(map[string]any)
}

// Issue 25, item 4: emails were parsed by net/mail, not validated. A quoted
// local part was stored unquoted (x@evil.com@example.com): register answered
// 500 after creating the account, and so did every GET /me of it; a display
// name was dropped ("Eve <bob@example.com>" logged in as bob); fullwidth and
// mixed-script look-alikes of an address became accounts of their own.
func TestEmailsAreValidatedNotParsed(t *testing.T) {
	for _, eng := range testenv.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			e := start(t, eng.NewURL(t), newFake(t, goodAnswer).srv.URL, nil)
			e.register(t, "bob@example.com")
			register := func(email string) testenv.Response {
				return testenv.Do(t, "POST", e.url+"/api/users/register", map[string]string{"email": email,
					"password": "another long password", "first_name": "E", "last_name": "V"})
			}
			login := func(email string) testenv.Response {
				return testenv.Do(t, "POST", e.url+"/api/users/authenticate",
					map[string]string{"email": email, "password": "correct horse battery"})
			}
			for _, bad := range []struct{ email, rule string }{
				{`"x@evil.com"@example.com`, "plain address"},
				{"Eve <bob@example.com>", "plain address"},
				{"bob@example.com (Bob)", "plain address"},
				{"bob@exаmple.com", "scripts"}, // a Cyrillic а in the domain
				{"bоb@example.com", "scripts"}, // a Cyrillic о in the local part
				{"bob@@example.com", "one @"},
				{"bob..b@example.com", "before the @"},
				{"bob\u3164@example.com", "before the @"}, // an invisible Hangul filler
				{"bob\u034f@example.com", "before the @"}, // an invisible combining grapheme joiner
				{"bob@localhost", "domain"},
			} {
				for name, r := range map[string]testenv.Response{"register": register(bad.email), "login": login(bad.email)} {
					entry := emailProblem(t, r)
					msg, _ := entry["message"].(string)
					if entry["field"] != "email" || !strings.Contains(msg, bad.rule) {
						t.Fatalf("%s %q: errors entry %v, want field email and the rule (%q)", name, bad.email, entry, bad.rule)
					}
				}
			}
			if _, err := e.svc.App.Repo.ByEmail(context.Background(), "x@evil.com@example.com"); err == nil {
				t.Fatal("the refused registration left an account behind")
			}
			// Look-alikes that canonicalise to bob's address are bob's address.
			for _, same := range []string{"ｂｏｂ＠ｅｘａｍｐｌｅ．ｃｏｍ", "BOB@EXAMPLE.COM", "bob@EXAMPLE.com"} {
				if r := register(same); r.Status != 409 {
					t.Fatalf("register %q with bob@example.com taken: %d, want 409 (%s)", same, r.Status, r.Body)
				}
				if r := login(same); r.Status != 200 {
					t.Fatalf("login as %q with bob's password: %d, want 200 (%s)", same, r.Status, r.Body)
				}
			}
			// An internationalised domain is stored in its ASCII (punycode) form.
			r := register("Jürgen@Bücher.example")
			var u struct{ Email string }
			r.JSON(t, &u)
			if r.Status != 201 || u.Email != "jürgen@xn--bcher-kva.example" {
				t.Fatalf("register an IDN address: %d %s", r.Status, r.Body)
			}
			// A JSON body without Content-Type: application/json is told so.
			plain := testenv.Do(t, "POST", e.url+"/api/users/authenticate",
				`{"email": "bob@example.com", "password": "correct horse battery"}`, "Content-Type", "text/plain")
			if entry := emailProblem(t, plain); entry["field"] != "Content-Type" || entry["message"] != "must be application/json" {
				t.Fatalf("a JSON body sent as text/plain: %v", entry)
			}
		})
	}
}

// Issue 25, item 4, the migration: accounts stored before the canonical form
// are put in it at start-up when no other account has it (and log in under
// any spelling of it), and the others keep their email, stay as they are,
// and are reported by id at every start.
func TestStoredEmailsFromBeforeTheCanonicalFormStayReachable(t *testing.T) {
	for _, eng := range testenv.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			url := eng.NewURL(t)
			_, conn, err := adapters.Open(context.Background(), url, nil)
			if err != nil {
				t.Fatal(err)
			}
			hash, err := app.HashPassword("correct horse battery")
			if err != nil {
				t.Fatal(err)
			}
			legacy := []string{"ｃａｒｏｌ@example.com", "bob@example.com", "ｂｏｂ@example.com", "x@evil.com@example.com",
				"jürgen@bücher.example"}
			ids := map[string]int64{}
			for _, email := range legacy {
				var id int64
				err := conn.QueryRowContext(context.Background(), fmt.Sprintf(`INSERT INTO users (email, password_hash, first_name,
					last_name, created_at, updated_at) VALUES ('%s', '%s', 'L', 'G', 1, 1) RETURNING id`, email, hash)).Scan(&id)
				if err != nil {
					t.Fatal(err)
				}
				ids[email] = id
			}
			conn.Close()

			e := start(t, url, newFake(t, goodAnswer).srv.URL, nil)
			for spelling, owner := range map[string]string{"carol@example.com": "ｃａｒｏｌ@example.com", "CAROL@example.com": "ｃａｒｏｌ@example.com",
				"bob@example.com": "bob@example.com", "ｂｏｂ@example.com": "bob@example.com",
				"Jürgen@Bücher.example": "jürgen@bücher.example", "jürgen@xn--bcher-kva.example": "jürgen@bücher.example"} {
				got, _ := e.login(t, spelling)
				var me struct{ ID int64 }
				testenv.Do(t, "GET", e.url+"/api/users/me", nil, testenv.Bearer(got.Token)...).JSON(t, &me)
				if me.ID != ids[owner] {
					t.Fatalf("login as %q: user %d, want %d (stored as %q)", spelling, me.ID, ids[owner], owner)
				}
			}
			if n := e.logs.Lines("stored emails put in canonical form"); len(n) != 1 || n[0]["count"] != float64(3) {
				t.Fatalf("canonicalised: %v, want one line with count 3", n)
			}
			check := func(logs *testenv.LogBuffer) {
				t.Helper()
				collided := logs.Lines("stored email's canonical form belongs to another account: the account cannot log in with a password")
				if len(collided) != 1 || collided[0]["level"] != "WARN" || collided[0]["user_id"] != float64(ids["ｂｏｂ@example.com"]) ||
					collided[0]["other_user_id"] != float64(ids["bob@example.com"]) {
					t.Fatalf("the collision: %v", collided)
				}
				invalid := logs.Lines("stored email has no canonical form: the account cannot log in with a password")
				if len(invalid) != 1 || invalid[0]["user_id"] != float64(ids["x@evil.com@example.com"]) ||
					!strings.Contains(invalid[0]["rule"].(string), "one @") {
					t.Fatalf("the invalid email: %v", invalid)
				}
				if strings.Contains(logs.String(), "evil.com") || strings.Contains(logs.String(), "ｂｏｂ") {
					t.Fatal("a stored email in the logs")
				}
			}
			check(e.logs)
			// Every start says so again, until an operator resolves it; nothing else changes.
			again := start(t, url, newFake(t, goodAnswer).srv.URL, nil)
			check(again.logs)
			if n := again.logs.Lines("stored emails put in canonical form"); len(n) != 0 {
				t.Fatalf("second start canonicalised again: %v", n)
			}
			for _, email := range []string{"ｂｏｂ@example.com", "x@evil.com@example.com"} {
				u, err := e.svc.App.Repo.ByID(context.Background(), ids[email])
				if err != nil || u.Email != email || u.EmailCanonical {
					t.Fatalf("the account stored as %q: %+v %v, want it unchanged", email, u, err)
				}
			}
			// The operator's way out: by id, as the WARN line names it.
			var stdout, stderr bytes.Buffer
			vars := map[string]string{"INTERNAL_SERVICE_TOKEN": token, "PROPERTY_SERVICE_TOKEN": propertyToken, "USER_DATABASE_URL": url,
				"JWT_SIGNING_KEY_FILE": filepath.Join(t.TempDir(), "k.pem")}
			code := user.Main(context.Background(), []string{"deactivate", "--id", fmt.Sprint(ids["ｂｏｂ@example.com"])},
				func(k string) string { return vars[k] }, nil, &stdout, &stderr)
			if code != 0 || !strings.Contains(stdout.String(), fmt.Sprintf("(id %d)", ids["ｂｏｂ@example.com"])) {
				t.Fatalf("deactivate --id: %d %s %s", code, stdout.String(), stderr.String())
			}
			if bob, _ := e.svc.App.Repo.ByID(context.Background(), ids["bob@example.com"]); !bob.IsActive {
				t.Fatal("deactivating the look-alike deactivated bob")
			}
		})
	}
}
