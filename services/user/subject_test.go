package user_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/internalauth"
	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
)

// The claims call at login (right after the password check) and at refresh
// each carry a fresh subject token for the user, signed with the key the
// user service publishes in its JWKS: for the claims operation, the property
// service and the user service as caller, at most 60 s to live.
func TestLoginAndRefreshSendASubjectTokenForTheUser(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	fake := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get(internalauth.SubjectHeader))
		mu.Unlock()
		goodAnswer(w, r)
	})
	e := start(t, "sqlite:"+filepath.Join(t.TempDir(), "u.db"), fake.srv.URL, nil)
	e.register(t, "a@example.com")
	r := testenv.Do(t, "POST", e.url+"/api/users/authenticate", map[string]string{"email": "a@example.com",
		"password": "correct horse battery"})
	var session struct {
		Token        string `json:"token"`
		RefreshToken string `json:"refresh_token"`
	}
	r.JSON(t, &session)
	if r := testenv.Do(t, "POST", e.url+"/api/users/refresh", map[string]string{"refresh_token": session.RefreshToken}); r.Status != 200 {
		t.Fatalf("refresh: %d %s", r.Status, r.Body)
	}
	// A wrong password makes no call (and so mints nothing).
	testenv.Do(t, "POST", e.url+"/api/users/authenticate", map[string]string{"email": "a@example.com", "password": "wrong wrong wrong"})
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 {
		t.Fatalf("%d claims calls, want 2 (login, refresh)", len(seen))
	}
	keys := jwtauth.NewRemoteKeys(e.url+"/.well-known/jwks.json", time.Minute)
	var access jwtauth.Claims
	testenv.Payload(t, session.Token, &access)
	v := jwtauth.NewSubjectVerifier(keys, access.Issuer)
	jtis := map[string]bool{}
	for i, tok := range seen {
		c, err := v.Verify(context.Background(), tok, "property-service")
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if c.Subject != access.Subject || c.Operation != "getUserProperties" || c.AuthorizedParty != "user-service" ||
			c.ExpiresAt.Sub(c.IssuedAt.Time) > time.Minute {
			t.Fatalf("call %d: claims %+v", i, c)
		}
		jtis[c.ID] = true
		if strings.Contains(e.logs.String(), tok) {
			t.Fatalf("call %d: the subject token is in the logs", i)
		}
	}
	if len(jtis) != 2 {
		t.Fatal("login and refresh sent the same subject token")
	}
}
