package property_test

// A listener that cannot accept connections must say so and must come back.
// Descriptor exhaustion is the way it happens in production: a flood of idle
// keep-alive connections to the public port leaves no descriptor for the
// next accept on any listener. The property service runs in a child process
// (the test binary again, see testenv.StartChild) with a low RLIMIT_NOFILE.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/internalauth"
	"github.com/jeeves4service/jeeves4service/services/common/workload"
	"github.com/jeeves4service/jeeves4service/services/property"
)

func TestMain(m *testing.M) {
	testenv.RunChild(func(ctx context.Context) int { return property.Main(ctx, os.Getenv, os.Stderr) })
	os.Exit(m.Run())
}

// childNofile is the child's descriptor limit; floodConns is more than that,
// all idle connections to the public port.
const (
	childNofile = 128
	floodConns  = 200
)

// In every INTERNAL_AUTH mode: while descriptors are exhausted, /readyz
// (asked on connections opened before) answers 503 on every listener and an
// ERROR line names the listener that cannot accept; once they are released,
// a new connection to the internal listener is served again (by each kind of
// caller the mode takes) and /readyz answers 200.
func TestListenersOutliveDescriptorExhaustion(t *testing.T) {
	for _, mode := range []workload.Mode{workload.Tokens, workload.SPIFFE, workload.Both} {
		t.Run(string(mode), func(t *testing.T) { exhaustDescriptors(t, mode) })
	}
}

func exhaustDescriptors(t *testing.T, mode workload.Mode) {
	issuer := testenv.NewIssuer(t)
	env := []string{"INTERNAL_AUTH=" + string(mode), "PROPERTY_PUBLIC_ADDR=127.0.0.1:0", "PROPERTY_INTERNAL_ADDR=127.0.0.1:0",
		"PROPERTY_ADMIN_ADDR=127.0.0.1:0", "PROPERTY_DATABASE_URL=sqlite:" + filepath.Join(t.TempDir(), "p.db"),
		"JWT_JWKS_URL=" + issuer.JWKSURL}
	if mode.TakesTokens() {
		env = append(env, "INTERNAL_SERVICE_TOKEN="+goodToken, "PROPERTY_SERVICE_TOKEN="+ownToken)
	}
	var td *testenv.TrustDomain
	if mode.TakesSPIFFE() {
		td = testenv.NewTrustDomain(t, "example.org", "property-service", "user-service")
		env = append(env, "SPIFFE_DIR="+td.Dir(t, "property-service"))
	}
	child := testenv.StartChild(t, childNofile, env, "public", "internal", "admin")
	public, internal := child.Addrs["public"], child.Addrs["internal"]
	path := "/api/internal/properties/users/7"

	// The internal callers the mode takes, each on a new connection every call.
	type caller struct {
		name, url, credential string
		client                *http.Client
		aud, azp              string // the subject token's
	}
	var callers []caller
	if mode == workload.Tokens || mode == workload.Both {
		callers = append(callers, caller{"token over plain HTTP", "http://" + internal + path, goodToken,
			&http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
			"property-service", "user-service"})
	}
	if mode.TakesSPIFFE() {
		now := time.Now()
		c := td.Client(t, "user-service", now.Add(-time.Minute), now.Add(time.Hour), td)
		c.Timeout = 2 * time.Second
		c.Transport.(*http.Transport).DisableKeepAlives = true
		svid := td.JWTSVID(t, "user-service", td.ID(t, "user-service"), td.ID(t, "property-service"), now, now.Add(5*time.Minute))
		callers = append(callers, caller{"JWT-SVID over mutual TLS", "https://" + internal + path, svid, c,
			td.ID(t, "property-service").String(), td.ID(t, "user-service").String()})
	}
	callAll := func() error {
		for _, c := range callers {
			r, err := testenv.TryWith(c.client, "GET", c.url, nil, internalauth.Header, c.credential,
				internalauth.SubjectHeader, issuer.SubjectToken(t, 7, c.aud, "getUserProperties", c.azp))
			if err != nil {
				return err
			}
			if r.Status != 200 {
				return &statusError{c.name, r.Status}
			}
		}
		return nil
	}

	// /readyz is asked on a keep-alive connection per listener, opened now:
	// during the exhaustion no new connection would be accepted to ask on.
	probes := map[string]func() (testenv.Response, error){
		"public": readyProbe(t, &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 1}},
			"http://"+public+"/readyz"),
	}
	if mode == workload.SPIFFE {
		now := time.Now()
		c := td.Client(t, "user-service", now.Add(-time.Minute), now.Add(time.Hour), td)
		c.Transport.(*http.Transport).MaxConnsPerHost = 1
		c.Timeout = 3 * time.Second
		probes["internal"] = readyProbe(t, c, "https://"+internal+"/readyz")
	} else {
		probes["internal"] = readyProbe(t, &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 1}},
			"http://"+internal+"/readyz")
	}
	ready := func(want int) error {
		for name, probe := range probes {
			r, err := probe()
			if err != nil {
				return err
			}
			if r.Status != want {
				return &statusError{name + " /readyz", r.Status}
			}
			// Not ready for the right reason (not a database without descriptors).
			if want == 503 && !strings.Contains(string(r.Body), "a listener cannot accept connections") {
				return fmt.Errorf("%s /readyz: 503 %s", name, r.Body)
			}
		}
		return nil
	}
	if err := ready(200); err != nil {
		t.Fatalf("before the flood: %v", err)
	}
	if err := callAll(); err != nil {
		t.Fatalf("before the flood: %v", err)
	}

	// The flood: idle connections to the public port, more than the limit;
	// once the service has no descriptor left (/readyz says so), new
	// connections to the internal port, which wait to be accepted. Dialled
	// before that, they could be accepted while the public port's backlog
	// was still being taken, and the internal listener would never fail.
	floodStart := time.Now()
	releasePublic := testenv.Flood(t, public, floodConns)
	if err := testenv.Eventually(5*time.Second, func() error { return ready(503) }); err != nil {
		t.Errorf("while no connection could be accepted: %v", err)
	}
	releaseInternal := testenv.Flood(t, internal, 3)
	// And it stays so while the flood lasts, through the retries' back-off
	// (5 ms doubling to 1 s) and past it.
	for range 5 {
		time.Sleep(500 * time.Millisecond)
		if err := ready(503); err != nil {
			t.Errorf("%s into the flood: %v", time.Since(floodStart).Round(100*time.Millisecond), err)
		}
	}
	if err := testenv.Eventually(2*time.Second, func() error {
		if !loggedCannotAccept(child.Log, "internal") {
			return errors.New("no ERROR line says the internal listener cannot accept connections")
		}
		return nil
	}); err != nil {
		t.Error(err)
	}

	releasePublic()
	releaseInternal()
	released := time.Now()
	if err := testenv.Eventually(10*time.Second, callAll); err != nil {
		t.Fatalf("after the flood: the internal listener does not serve again: %v", err)
	}
	t.Logf("the internal listener served new connections again %s after the release",
		time.Since(released).Round(time.Millisecond))
	if err := testenv.Eventually(10*time.Second, func() error { return ready(200) }); err != nil {
		t.Fatalf("after the flood: %v", err)
	}
	if len(child.Log.Lines("listener accepting again")) == 0 {
		t.Errorf("no line says the listeners accept again")
	}
}

type statusError struct {
	what   string
	status int
}

func (e *statusError) Error() string { return fmt.Sprintf("%s: status %d", e.what, e.status) }

// readyProbe asks url on client (one connection, kept alive).
func readyProbe(t *testing.T, client *http.Client, url string) func() (testenv.Response, error) {
	t.Cleanup(client.CloseIdleConnections)
	return func() (testenv.Response, error) { return testenv.TryWith(client, "GET", url, nil) }
}

func loggedCannotAccept(log *testenv.LogBuffer, listener string) bool {
	for _, l := range log.Lines("listener cannot accept connections") {
		if l["level"] == "ERROR" && l["listener"] == listener && strings.Contains(l["error"].(string), "too many open files") {
			return true
		}
	}
	return false
}
