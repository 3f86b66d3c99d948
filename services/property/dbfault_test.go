package property_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
)

// With PostgreSQL unreachable, requests get quick 503 problems and /readyz says
// not ready; once it is back the service resumes by itself, and every write
// that was answered 2xx before the fault is still there.
func TestPostgresOutageIsSurvived(t *testing.T) {
	dbURL := testenv.PostgresURL(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.NewProxy(t, u.Host)
	u.Host = proxy.Addr()
	e := startWith(t, u.String(), nil)
	const owner = 40
	var ids []int64
	for i := 0; i < 5; i++ {
		ids = append(ids, e.createProperty(t, owner, fmt.Sprintf("Before the fault %d", i)))
	}

	proxy.Cut()
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/properties/"}, {"POST", "/api/properties/"}, {"GET", fmt.Sprintf("/api/property/%d", ids[0])},
	} {
		var body any
		if c.method == "POST" {
			body = map[string]string{"name": "During the fault"}
		}
		start := time.Now()
		r := testenv.Do(t, c.method, e.public+c.path, body, e.as(t, owner)...)
		if r.Status != 503 || time.Since(start) > 5*time.Second {
			t.Fatalf("%s %s with the database down: %d after %v (%s)", c.method, c.path, r.Status, time.Since(start), r.Body)
		}
		if p := r.Problem(t); strings.Contains(fmt.Sprint(p), "dial") || strings.Contains(fmt.Sprint(p), "127.0.0.1") {
			t.Fatalf("problem leaks connection details: %v", p)
		}
	}
	internal := testenv.Do(t, "GET", userPropertiesURL(e, fmt.Sprint(owner)), nil, e.claimsCall(t, goodToken, owner)...)
	if internal.Status != 503 {
		t.Fatalf("internal call with the database down: %d", internal.Status)
	}
	if r := testenv.Do(t, "GET", e.public+"/readyz", nil); r.Status != 503 {
		t.Fatalf("readyz with the database down: %d", r.Status)
	}
	if r := testenv.Do(t, "GET", e.public+"/healthz", nil); r.Status != 200 {
		t.Fatalf("healthz (liveness) with the database down: %d", r.Status)
	}

	proxy.Restore()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := testenv.Do(t, "GET", e.public+"/readyz", nil)
		if r.Status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready 15s after the database came back: %d", r.Status)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var list struct {
		Properties []struct{ ID int64 } `json:"properties"`
	}
	testenv.Do(t, "GET", e.public+"/api/properties/", nil, e.as(t, owner)...).JSON(t, &list)
	if len(list.Properties) != len(ids) {
		t.Fatalf("after the fault: %d properties, want the %d written before it (none during)", len(list.Properties), len(ids))
	}
	for i, p := range list.Properties {
		if p.ID != ids[i] {
			t.Fatalf("property %d is %d, want %d", i, p.ID, ids[i])
		}
	}
	e.createProperty(t, owner, "After the fault")
}
