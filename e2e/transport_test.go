package e2e

// Issue 33: the transport of internal calls. A call that carries a user's
// access token (the property service's exchange at the user service) never
// crosses a hop in clear, and no internal client follows a redirect. Each
// attack against the real services, on both engines.

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"jeeves4service/internal/testkit/testenv"
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
