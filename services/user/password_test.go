package user_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
)

// A too-short or too-long password is refused naming the field and the
// contract's bound (issue 36: "is too short" left the minimum to guess).
func TestPasswordLengthRefusalSaysTheBound(t *testing.T) {
	e := start(t, "sqlite:"+filepath.Join(t.TempDir(), "u.db"), newFake(t, goodAnswer).srv.URL, nil)
	for password, want := range map[string]string{
		"short":                  "must be at least 12 characters",
		strings.Repeat("x", 129): "must be at most 128 characters",
	} {
		r := testenv.Do(t, "POST", e.url+"/api/users/register", map[string]string{"email": "ada@example.com",
			"password": password, "first_name": "Ada", "last_name": "Lovelace"})
		p := r.Problem(t)
		if got := fmt.Sprint(p["errors"]); r.Status != 400 || got != "[map[field:password message:"+want+"]]" {
			t.Errorf("password of %d characters: %d, errors %s, want password: %s", len(password), r.Status, got, want)
		}
	}
}
