package user_test

import (
	"testing"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
)

// Issue 28: invitations are matched against the signed-in user's email, so
// the access token carries it, in canonical form, as the account stores it.
func TestAccessTokenCarriesTheCanonicalEmail(t *testing.T) {
	for _, eng := range testenv.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			e := start(t, eng.NewURL(t), newFake(t, goodAnswer).srv.URL, nil)
			e.register(t, "ＡＤＡ@Example.COM")
			got, _ := e.login(t, "ada@example.com")
			var claims struct {
				Email string `json:"email"`
			}
			testenv.Payload(t, got.Token, &claims)
			if claims.Email != "ada@example.com" {
				t.Fatalf("email claim %q, want ada@example.com", claims.Email)
			}
		})
	}
}
