package user_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/services/user/app"
)

// Issue 34, the migration: accounts stored in the canonical form from before
// (case folded before IDNA, every one of them confirmed canonical then) are
// checked again at the first start after it. A form that lower casing
// changes is put in it (Cherokee: folding made it upper case); a form that
// may stand for another mailbox (boss@strasse.de may have been typed
// boss@straße.de) is kept, can log in as stored, and is reported once by
// user id; the rest are confirmed silently.
func TestStoredEmailsInTheFoldedFormAreMigratedOrReported(t *testing.T) {
	for _, eng := range testenv.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			url := eng.NewURL(t)
			conn, _ := testenv.MigratedTo(t, url, "user", 5)
			hash, err := app.HashPassword("correct horse battery")
			if err != nil {
				t.Fatal(err)
			}
			ids := map[string]int64{}
			for _, email := range []string{"boss@strasse.de", "σοφια@example.com", "Ꭰ@example.com", "jürgen@xn--bcher-kva.example",
				"bob@example.com", "bob@ss.example"} {
				var id int64
				err := conn.QueryRowContext(context.Background(), fmt.Sprintf(`INSERT INTO users (email, password_hash, first_name,
					last_name, created_at, updated_at, email_canonical) VALUES ('%s', '%s', 'L', 'G', 1, 1, TRUE) RETURNING id`, email, hash)).
					Scan(&id)
				if err != nil {
					t.Fatal(err)
				}
				ids[email] = id
			}
			_ = conn.Close()

			e := start(t, url, newFake(t, goodAnswer).srv.URL, nil)
			// Listed again: all but bob@example.com (lower-case ASCII, without ss).
			if n := e.logs.Lines("stored emails put in canonical form"); len(n) != 1 || n[0]["count"] != float64(5) {
				t.Fatalf("canonicalised: %v, want one line with count 5", n)
			}
			const maybe = "stored email may stand for another mailbox (an old canonical form folded ß, ς or ι): kept, " +
				"the account logs in as stored"
			reported := map[float64]bool{}
			for _, l := range e.logs.Lines(maybe) {
				reported[l["user_id"].(float64)] = l["level"] == "WARN"
			}
			if len(reported) != 3 || !reported[float64(ids["boss@strasse.de"])] || !reported[float64(ids["σοφια@example.com"])] ||
				!reported[float64(ids["bob@ss.example"])] {
				t.Fatalf("reported %v, want the users %d, %d and %d", reported, ids["boss@strasse.de"], ids["σοφια@example.com"],
					ids["bob@ss.example"])
			}
			for spelling, owner := range map[string]string{"BOSS@strasse.de": "boss@strasse.de", "ΣΟΦΙΑ@example.com": "σοφια@example.com",
				"ꭰ@example.com": "Ꭰ@example.com", "Ꭰ@Example.com": "Ꭰ@example.com", "Jürgen@Bücher.example": "jürgen@xn--bcher-kva.example",
				"bob@example.com": "bob@example.com"} {
				got, _ := e.login(t, spelling)
				var me struct{ ID int64 }
				testenv.Do(t, "GET", e.url+"/api/users/me", nil, testenv.Bearer(got.Token)...).JSON(t, &me)
				if me.ID != ids[owner] {
					t.Fatalf("login as %q: user %d, want %d (stored as %q)", spelling, me.ID, ids[owner], owner)
				}
			}
			if u, err := e.svc.App.Repo.ByID(context.Background(), ids["Ꭰ@example.com"]); err != nil || u.Email != "ꭰ@example.com" {
				t.Fatalf("the Cherokee account: %+v %v, want it stored lower-case", u, err)
			}
			// boss@straße.de is another mailbox: registering it makes a new account.
			r := testenv.Do(t, "POST", e.url+"/api/users/register", map[string]string{"email": "boss@straße.de",
				"password": "another long password", "first_name": "B", "last_name": "S"})
			if r.Status != 201 {
				t.Fatalf("register boss@straße.de next to the old boss@strasse.de: %d %s", r.Status, r.Body)
			}
			// Once: the next start neither lists nor reports them again.
			again := start(t, url, newFake(t, goodAnswer).srv.URL, nil)
			if n := again.logs.Lines("stored emails put in canonical form"); len(n) != 0 {
				t.Fatalf("second start canonicalised again: %v", n)
			}
			if n := again.logs.Lines(maybe); len(n) != 0 {
				t.Fatalf("second start reported again: %v", n)
			}
		})
	}
}
