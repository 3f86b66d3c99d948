package e2e

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/internalauth"
)

func TestMetricsOnAdminListenersOnly(t *testing.T) {
	s := startSystem(t, testenv.Engines(t)[0])
	const email, password = "ada@example.com", "correct horse battery staple"
	register(t, s, email, password)
	login(t, s, email, password)
	login(t, s, email, "wrong password, twelve chars")
	testenv.Do(t, "GET", s.internal+"/api/internal/properties/users/1", nil, internalauth.Header, strings.Repeat("x", 40))

	user, property := testenv.Scrape(t, s.userAdmin+"/metrics"), testenv.Scrape(t, s.propertyAdmin+"/metrics")
	for series, want := range map[string]string{
		`logins_total{outcome="success",service="user-service"}`:                                                  "1",
		`logins_total{outcome="bad_credentials",service="user-service"}`:                                          "1",
		`login_claims_total{claims="included",service="user-service"}`:                                            "1",
		`property_client_calls_total{outcome="ok",service="user-service"}`:                                        "1",
		`upstream_circuit_state{service="user-service",upstream="property-service"}`:                              "0",
		`upstream_circuit_opens_total{service="user-service",upstream="property-service"}`:                        "0",
		`upstream_circuit_refused_total{service="user-service",upstream="property-service"}`:                      "0",
		`http_requests_total{listener="public",operation="authenticateUser",service="user-service",status="200"}`: "1",
	} {
		if user[series] != want {
			t.Errorf("user service %s = %q, want %s", series, user[series], want)
		}
	}
	for series, want := range map[string]string{
		`internal_auth_accepted_total{caller="user-service",credential="token",service="property-service"}`:              "1",
		`internal_auth_rejected_total{reason="invalid",service="property-service"}`:                                      "1",
		`http_requests_total{listener="internal",operation="getUserProperties",service="property-service",status="401"}`: "1",
		`upstream_circuit_state{service="property-service",upstream="user-service"}`:                                     "0",
		`upstream_circuit_opens_total{service="property-service",upstream="user-service"}`:                               "0",
		`upstream_circuit_refused_total{service="property-service",upstream="user-service"}`:                             "0",
	} {
		if property[series] != want {
			t.Errorf("property service %s = %q, want %s", series, property[series], want)
		}
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "go_sql_open_connections",
		"http_request_duration_seconds_bucket"} {
		if !hasPrefix(user, name) || !hasPrefix(property, name) {
			t.Errorf("no %s series", name)
		}
	}
	// Never on a listener the public (or another service) reaches.
	for _, base := range []string{s.user, s.property, s.internal} {
		for _, path := range []string{"/metrics", "/debug/pprof/"} {
			if r := testenv.DoUnchecked(t, "GET", base+path, nil); r.Status != 404 {
				t.Errorf("%s%s: %d, want 404", base, path, r.Status)
			}
		}
	}
}

func hasPrefix(series map[string]string, name string) bool {
	for k := range series {
		if strings.HasPrefix(k, name) {
			return true
		}
	}
	return false
}

// Label values come from the contract, never from the path: a thousand
// requests to random unknown paths add no series.
func TestRandomPathsAddNoSeries(t *testing.T) {
	s := startSystem(t, testenv.Engines(t)[0])
	bases := []string{s.user, s.property, s.internal}
	hit := func(path string) {
		for _, b := range bases {
			testenv.DoUnchecked(t, "GET", b+path, nil)
		}
	}
	hit("/warm-up") // the "none" operation's 404 series exist from the first unknown path on
	before := len(testenv.Scrape(t, s.userAdmin+"/metrics")) + len(testenv.Scrape(t, s.propertyAdmin+"/metrics"))
	for i := 0; i < 1000; i++ {
		path := fmt.Sprintf("/%x/%d/api/internal/properties/users/%d", rand.Uint64(), i, rand.Int64())
		testenv.DoUnchecked(t, "GET", bases[i%3]+path, nil)
	}
	after := len(testenv.Scrape(t, s.userAdmin+"/metrics")) + len(testenv.Scrape(t, s.propertyAdmin+"/metrics"))
	if after > before {
		t.Fatalf("%d series before, %d after 1,000 random paths", before, after)
	}
}

// otlpReceiver is a test OTLP/HTTP endpoint: it decodes each export with
// the collector's pdata package and keeps the spans.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []span
}

type span struct {
	service, name, kind     string
	trace, id, parent, link string
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(body); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	rss := req.Traces().ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		svc, _ := rs.Resource().Attributes().Get("service.name")
		for j := 0; j < rs.ScopeSpans().Len(); j++ {
			ss := rs.ScopeSpans().At(j).Spans()
			for k := 0; k < ss.Len(); k++ {
				sp := ss.At(k)
				link := ""
				if sp.Links().Len() > 0 {
					link = sp.Links().At(0).TraceID().String()
				}
				o.spans = append(o.spans, span{service: svc.Str(), name: sp.Name(), kind: sp.Kind().String(),
					trace: sp.TraceID().String(), id: sp.SpanID().String(), parent: sp.ParentSpanID().String(), link: link})
			}
		}
	}
	resp, _ := ptraceotlp.NewExportResponse().MarshalProto()
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(resp)
}

func (o *otlpReceiver) all() []span {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]span(nil), o.spans...)
}

var _ = ptrace.SpanKindServer // the kinds compared below are pdata's names

// One login is one trace across both services: the user service's server
// span, its password-hash span and its client span for the internal call;
// the property service's server span for getUserProperties as the client
// span's child, and its database span under that. A public caller's
// traceparent does not choose the trace.
func TestOneLoginIsOneTraceAcrossBothServices(t *testing.T) {
	recv := &otlpReceiver{}
	collector := httptest.NewServer(recv)
	defer collector.Close()
	s := startSystemWith(t, testenv.Engines(t)[0], map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL})
	const email, password = "ada@example.com", "correct horse battery staple"
	register(t, s, email, password)
	chosen := "0af7651916cd43dd8448eb211c80319c"
	resp := testenv.Do(t, "POST", s.user+"/api/users/authenticate", map[string]string{"email": email, "password": password},
		"traceparent", "00-"+chosen+"-b7ad6b7169203331-01", "X-Request-ID", "traced-login")
	if resp.Status != 200 {
		t.Fatalf("login: %d", resp.Status)
	}
	var login span
	var spans []span
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		spans = recv.all()
		login = find(spans, "user-service", "authenticateUser", "")
		if login.id != "" && find(spans, "property-service", "getUserProperties", login.trace).id != "" {
			break
		}
	}
	if login.id == "" {
		t.Fatalf("no server span for the login among %v", spans)
	}
	if login.trace == chosen || login.parent != "0000000000000000" && login.parent != "" {
		t.Fatalf("the public caller chose the trace: %+v", login)
	}
	if login.link != chosen {
		t.Errorf("the caller's trace context is not linked: %+v", login)
	}
	var trace []span
	for _, sp := range spans {
		if sp.trace == login.trace {
			trace = append(trace, sp)
		}
	}
	byID := map[string]span{}
	for _, sp := range trace {
		byID[sp.id] = sp
	}
	server := find(trace, "property-service", "getUserProperties", login.trace)
	client := byID[server.parent]
	if server.kind != "Server" || client.service != "user-service" || client.kind != "Client" {
		t.Fatalf("the internal call's server span %+v is not a child of a user-service client span (%+v)\n%v", server, client, trace)
	}
	if find(trace, "user-service", "password.argon2id", login.trace).parent != login.id {
		t.Errorf("no password hash span under the login: %v", trace)
	}
	db := false
	for _, sp := range trace {
		db = db || (sp.service == "property-service" && strings.HasPrefix(sp.name, "sql.") && inside(byID, sp, server.id))
	}
	if !db {
		t.Errorf("no database span under the internal call: %v", names(trace))
	}
	// The audit line and the access lines carry the trace id.
	audited := false
	for _, line := range s.propertyLogs.Lines("internal call") {
		audited = audited || line["trace_id"] == login.trace
	}
	if !audited {
		t.Error("the audit line does not carry the login's trace id")
	}
}

func find(spans []span, service, name, trace string) span {
	for _, sp := range spans {
		if sp.service == service && sp.name == name && (trace == "" || sp.trace == trace) {
			return sp
		}
	}
	return span{}
}

// inside reports whether sp descends from the span ancestor.
func inside(byID map[string]span, sp span, ancestor string) bool {
	for p := sp.parent; p != ""; p = byID[p].parent {
		if p == ancestor {
			return true
		}
		if _, ok := byID[p]; !ok {
			return false
		}
	}
	return false
}

func names(spans []span) []string {
	var out []string
	for _, sp := range spans {
		out = append(out, sp.service+":"+sp.name)
	}
	sort.Strings(out)
	return out
}
