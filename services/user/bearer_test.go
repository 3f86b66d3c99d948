package user_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
)

// A client can tell an expired access token (refresh) from one that was
// never valid (sign in again): RFC 6750's error and error_description in
// WWW-Authenticate, and the problem's type and detail (issue 36). The tokens
// are signed with the service's own key, for a live session (the user
// service also checks the session), so only their exp differs from a
// login's token.
func TestExpiredTokenIsAnsweredApartFromAnInvalidOne(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "k.pem")
	key, err := jwtauth.LoadOrCreateKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	e := start(t, "sqlite:"+filepath.Join(t.TempDir(), "u.db"), newFake(t, goodAnswer).srv.URL,
		map[string]string{"JWT_SIGNING_KEY_FILE": keyFile})
	e.register(t, "ada@example.com")
	login, _ := e.login(t, "ada@example.com")
	var claims jwtauth.Claims
	testenv.Payload(t, login.Token, &claims)
	if claims.SessionID == "" {
		t.Fatal("the login's token names no session")
	}
	testenv.BearerRefusals(t, "GET", e.url+"/api/users/me", claims, key,
		jwtauth.Settings{Issuer: "jeeves4service", Audience: "jeeves4service"})
}

// A token whose session ended (logout) is valid but refused by the user
// service; the problem says a new sign-in, not a refresh, is what helps.
func TestEndedSessionSaysSignInAgain(t *testing.T) {
	e := start(t, "sqlite:"+filepath.Join(t.TempDir(), "u.db"), newFake(t, goodAnswer).srv.URL, nil)
	e.register(t, "ada@example.com")
	login, _ := e.login(t, "ada@example.com")
	if r := testenv.Do(t, "POST", e.url+"/api/users/logout", nil, testenv.Bearer(login.Token)...); r.Status != 204 {
		t.Fatalf("logout: %d %s", r.Status, r.Body)
	}
	r := testenv.Do(t, "GET", e.url+"/api/users/me", nil, testenv.Bearer(login.Token)...)
	if detail, _ := r.Problem(t)["detail"].(string); r.Status != 401 || !strings.Contains(detail, "ended") ||
		!strings.Contains(detail, "sign in again") {
		t.Fatalf("me after logout: %d %q", r.Status, detail)
	}
}
