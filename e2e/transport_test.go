package e2e

// Issue 33: the transport of internal calls. A call that carries a user's
// access token (the property service's exchange at the user service) never
// crosses a hop in clear, and no internal client follows a redirect. Each
// attack against the real services, on both engines.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/services/property"
)

// The callee's address answers 307 to another listener (a proxy or a
// process at the callee's address, or an attacker on the path): the user
// service's claims call at login and the property service's exchange at a
// member list are each answered by the redirect, and the target receives no
// connection at all, so neither X-Internal-Token nor the exchange's body
// (the user's access token) nor the retry reaches it; the login answers
// without claims and the list without names, as when the callee is down.
func TestInternalClientsFollowNoRedirect(t *testing.T) {
	for _, eng := range testenv.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			var reached atomic.Int32
			target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached.Add(1) }))
			t.Cleanup(target.Close)
			var redirected sync.Map // path -> times the callee's address was asked
			redirector := func(*testing.T) string {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					n, _ := redirected.LoadOrStore(r.URL.Path, new(atomic.Int32))
					n.(*atomic.Int32).Add(1)
					http.Redirect(w, r, target.URL+r.URL.Path, http.StatusTemporaryRedirect)
				}))
				t.Cleanup(srv.Close)
				return srv.URL
			}
			s := startSystemVia(t, eng, func(name, url string) string {
				if name == "internal" || name == "userInternal" {
					return redirector(t)
				}
				return url
			})
			register(t, s, "owner@example.com", "owner password 1234")
			owner, resp := login(t, s, "owner@example.com", "owner password 1234")
			if resp.Status != 200 || owner.PropertiesIncluded {
				t.Fatalf("login with a redirecting property service: %d, properties included %v", resp.Status, owner.PropertiesIncluded)
			}
			var p struct{ ID int64 }
			testenv.Do(t, "POST", s.property+"/api/properties/", map[string]string{"name": "Cottage"},
				testenv.Bearer(owner.Token)...).JSON(t, &p)
			var members memberList
			r := testenv.Do(t, "GET", fmt.Sprintf("%s/api/property/%d/members", s.property, p.ID), nil, testenv.Bearer(owner.Token)...)
			r.JSON(t, &members)
			if r.Status != 200 || members.NamesIncluded {
				t.Fatalf("member list with a redirecting user service: %d %s", r.Status, r.Body)
			}
			for _, path := range []string{"/api/internal/properties/users/1", "/api/internal/users/subject-tokens"} {
				if n, ok := redirected.Load(path); !ok || n.(*atomic.Int32).Load() == 0 {
					t.Errorf("%s never reached the callee's address: the test proves nothing about it", path)
				}
			}
			if reached.Load() != 0 {
				t.Fatalf("the redirect's target received %d requests", reached.Load())
			}
		})
	}
}

// recorder is a TCP relay that keeps every byte it carries, both ways: what
// a passive observer of the hop reads.
type recorder struct {
	addr string
	mu   sync.Mutex
	seen bytes.Buffer
}

// record relays connections to target (host:port) until the test ends.
func record(t *testing.T, target string) *recorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	r := &recorder{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			t.Cleanup(func() { _ = c.Close(); _ = up.Close() })
			pipe := func(dst, src net.Conn) {
				_, _ = io.Copy(dst, io.TeeReader(src, r))
				_ = dst.Close()
				_ = src.Close()
			}
			go pipe(up, c)
			go pipe(c, up)
		}
	}()
	return r
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen.Write(p)
}

func (r *recorder) captured() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.seen.Bytes())
}

// Issue 33, attack 4: in token mode the property service's exchange carried
// the user's access token over plain HTTP, and an observer of the hop used
// it on the public API. A recording relay sits between the property service
// and the user service's internal listener; a member list makes the
// exchange with the owner's real access token. In the modes the docs
// recommend (spiffe, token with TLS) the relay carries the exchange and the
// profiles call (the names arrive) and never the access token nor the
// property service's static token. Plain http is still allowed to a loopback
// host (INTERNAL_AUTH=token make run), and there the relay does read the
// token: the check can fail.
func TestNoAccessTokenCrossesTheExchangeHopInClear(t *testing.T) {
	files := testenv.NewTLSFiles(t, "127.0.0.1")
	modes := []struct {
		name  string
		extra map[string]string
		clear bool // plain http on loopback: the token crosses in clear
	}{
		{"spiffe", map[string]string{"INTERNAL_AUTH": "spiffe"}, false},
		{"token+TLS", files.Env(), false},
		{"token on loopback", nil, true},
	}
	for _, eng := range testenv.Engines(t) {
		for _, m := range modes {
			t.Run(eng.Name+"/"+m.name, func(t *testing.T) {
				var hop *recorder
				s := startSystemOpts(t, eng, func(name, url string) string {
					if name != "userInternal" {
						return url
					}
					scheme, hostport, _ := strings.Cut(url, "://")
					hop = record(t, hostport)
					return scheme + "://" + hop.addr
				}, m.extra)
				register(t, s, "owner@example.com", "owner password 1234")
				owner, _ := login(t, s, "owner@example.com", "owner password 1234")
				if !owner.PropertiesIncluded { // the other hop, user -> property, in the same mode
					t.Fatal("the login has no property claims: the claims call failed")
				}
				var p struct{ ID int64 }
				testenv.Do(t, "POST", s.property+"/api/properties/", map[string]string{"name": "Cottage"},
					testenv.Bearer(owner.Token)...).JSON(t, &p)
				// The refreshed token claims the cottage, and the user service has
				// seen the owner in it: the profiles call then answers names.
				first := owner.Token
				owner = mustRefresh(t, s, owner.RefreshToken)
				var members memberList
				testenv.Do(t, "GET", fmt.Sprintf("%s/api/property/%d/members", s.property, p.ID), nil,
					testenv.Bearer(owner.Token)...).JSON(t, &members)
				if !members.NamesIncluded {
					t.Fatalf("the member list has no names: the exchange and the profiles call did not cross the relay")
				}
				seen := hop.captured()
				if len(seen) == 0 {
					t.Fatal("the relay carried nothing")
				}
				if got := bytes.Contains(seen, []byte(owner.Token)); got != m.clear {
					t.Fatalf("the owner's access token in the captured hop: %v, want %v", got, m.clear)
				}
				if bytes.Contains(seen, []byte(first)) {
					t.Fatal("the owner's first access token crossed the hop, though no exchange was made with it")
				}
				if !m.clear && bytes.Contains(seen, []byte(propertyToken)) {
					t.Fatal("the property service's static token crossed the hop in clear")
				}
			})
		}
	}
}

// In token mode, a user service reached over plain http at an address that
// is not loopback would carry users' access tokens across a network in
// clear: the property service refuses to start, with one line naming the
// variable and exit status 2, as for a plain-http JWT_JWKS_URL.
func TestPlainHTTPExchangeOffLoopbackRefusesToStart(t *testing.T) {
	for _, url := range []string{"http://10.0.0.7:9001", "http://user-service-internal:9001", "http://127.0.0.1.example.com:9001",
		"http://[fe80::1]:9001"} {
		env := map[string]string{"INTERNAL_SERVICE_TOKEN": internalToken, "PROPERTY_SERVICE_TOKEN": propertyToken,
			"USER_SERVICE_INTERNAL_URL": url, "PROPERTY_DATABASE_URL": "sqlite:" + t.TempDir() + "/p.db",
			"PROPERTY_PUBLIC_ADDR": "127.0.0.1:0", "PROPERTY_INTERNAL_ADDR": "127.0.0.1:0", "PROPERTY_ADMIN_ADDR": "127.0.0.1:0"}
		for _, mode := range []string{"", "token", "token+spiffe"} {
			env["INTERNAL_AUTH"] = mode
			var stderr bytes.Buffer
			// Bounded: a service that starts instead serves until ctx ends.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			code := property.Main(ctx, mapEnv(env), &stderr)
			cancel()
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if code != 2 || len(lines) != 1 || !strings.Contains(lines[0], "configuration error: USER_SERVICE_INTERNAL_URL: must be an https://") {
				t.Fatalf("INTERNAL_AUTH=%q USER_SERVICE_INTERNAL_URL=%s: exit %d, stderr %q; want 2 and one line naming the variable",
					mode, url, code, stderr.String())
			}
			if strings.Contains(stderr.String(), propertyToken) || strings.Contains(stderr.String(), internalToken) {
				t.Fatal("the refusal quotes a token")
			}
		}
	}
}
