package user_test

// The user service's side of "a listener that cannot accept says so": its
// public listener, out of descriptors under a flood of idle connections,
// makes /readyz answer 503 until it accepts again (the property service's
// listener_test.go does the same in every INTERNAL_AUTH mode).

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/services/user"
)

func TestMain(m *testing.M) {
	testenv.RunChild(func(ctx context.Context) int {
		return user.Main(ctx, nil, os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	})
	os.Exit(m.Run())
}

func TestPublicListenerOutlivesDescriptorExhaustion(t *testing.T) {
	dir := t.TempDir()
	child := testenv.StartChild(t, 128, []string{"USER_PUBLIC_ADDR=127.0.0.1:0", "USER_ADMIN_ADDR=127.0.0.1:0",
		"USER_DATABASE_URL=sqlite:" + filepath.Join(dir, "u.db"), "JWT_SIGNING_KEY_FILE=" + filepath.Join(dir, "k.pem"),
		"INTERNAL_SERVICE_TOKEN=" + token, "PROPERTY_SERVICE_URL=http://127.0.0.1:1",
		"USER_INTERNAL_ADDR=127.0.0.1:0", "PROPERTY_SERVICE_TOKEN=" + propertyToken}, "public", "admin")
	public := "http://" + child.Addrs["public"]
	// Asked on one connection opened now: during the flood no new one is accepted.
	probe := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 1}}
	t.Cleanup(probe.CloseIdleConnections)
	ready := func(want int, detail string) func() error {
		return func() error {
			r, err := testenv.TryWith(probe, "GET", public+"/readyz", nil)
			if err == nil && (r.Status != want || !strings.Contains(string(r.Body), detail)) {
				return &statusError{"/readyz " + string(r.Body), r.Status}
			}
			return err
		}
	}
	if err := ready(200, "ready")(); err != nil {
		t.Fatalf("before the flood: %v", err)
	}
	release := testenv.Flood(t, child.Addrs["public"], 200)
	if err := testenv.Eventually(5*time.Second, ready(503, "a listener cannot accept connections")); err != nil {
		t.Errorf("during the flood: %v", err)
	}
	time.Sleep(1500 * time.Millisecond) // past the longest back-off between two accepts
	if err := ready(503, "a listener cannot accept connections")(); err != nil {
		t.Errorf("1.5 s later, still flooded: %v", err)
	}
	errs := child.Log.Lines("listener cannot accept connections")
	if len(errs) == 0 || errs[0]["level"] != "ERROR" || errs[0]["listener"] != "public" {
		t.Errorf("ERROR lines: %v", errs)
	}
	release()
	fresh := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	if err := testenv.Eventually(10*time.Second, func() error {
		r, err := testenv.TryWith(fresh, "GET", public+"/healthz", nil)
		if err == nil && r.Status != 200 {
			return &statusError{"/healthz", r.Status}
		}
		return err
	}); err != nil {
		t.Fatalf("after the flood, a new connection: %v", err)
	}
	if err := testenv.Eventually(5*time.Second, ready(200, "ready")); err != nil {
		t.Fatalf("after the flood: %v", err)
	}
}

type statusError struct {
	what   string
	status int
}

func (e *statusError) Error() string { return fmt.Sprintf("%s: status %d", e.what, e.status) }
