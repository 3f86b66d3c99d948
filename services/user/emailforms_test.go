package user_test

import (
	"strings"
	"testing"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
)

// Issue 34, attack 2: the canonical form must never merge two mailboxes.
// Case was folded before IDNA, so boss@straße.de (domain xn--strae-oqa.de)
// became boss@strasse.de, another domain, and ß/ς in a local part became
// ss/σ. Over HTTP, on each engine: which spellings are one account (409 on a
// second registration, the same account at login) and which are different
// accounts.
func TestCanonicalFormNeverMergesTwoMailboxes(t *testing.T) {
	for _, eng := range testenv.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			// Fourteen registrations from one address: more than the default budget.
			e := start(t, eng.NewURL(t), newFake(t, goodAnswer).srv.URL, map[string]string{"REGISTER_LIMIT_PER_IP": "100/1h"})
			register := func(email, password string) testenv.Response {
				return testenv.Do(t, "POST", e.url+"/api/users/register", map[string]string{"email": email,
					"password": password, "first_name": "B", "last_name": "O"})
			}
			// In order: each registration is a new account (201, stored as
			// want) or, being a spelling of one registered before, 409.
			for _, c := range []struct {
				email, want string
				status      int
			}{
				{"boss@straße.de", "boss@xn--strae-oqa.de", 201},
				{"boss@xn--strae-oqa.de", "", 409}, // the A-label of straße.de is the same domain
				{"Boss@STRAßE.de", "", 409},
				{"boss@strasse.de", "boss@strasse.de", 201}, // another domain: a new account
				{"BOSS@Strasse.DE", "", 409},
				{"straße@example.com", "straße@example.com", 201}, // ß before the @ stays ß
				{"strasse@example.com", "strasse@example.com", 201},
				{"STRAẞE@example.com", "", 409},                   // capital sharp s is ß's capital
				{"σοφιας@example.com", "σοφιας@example.com", 201}, // final sigma
				{"σοφιασ@example.com", "σοφιασ@example.com", 201}, // another letter, another mailbox
				{"ΣΟΦΙΑΣ@example.com", "", 409},                   // capitals: Σ at the end of a word is ς
				{"bob@σοφος.gr", "bob@xn--0xaajbq.gr", 201},       // ς in a domain stays ς (non-transitional)
				{"bob@σοφοσ.gr", "bob@xn--0xaakcn.gr", 201},
				{"bob@xn--0xaajbq.gr", "", 409},
			} {
				r := register(c.email, "password of "+c.email)
				var u struct{ Email string }
				r.JSON(t, &u)
				if r.Status != c.status || c.status == 201 && u.Email != c.want {
					t.Fatalf("register %q: %d %s; want %d %q", c.email, r.Status, r.Body, c.status, c.want)
				}
			}
			// Each spelling logs in to the account registered under the
			// spelling named second (its password), and only to it.
			for _, c := range []struct{ email, owner, want string }{
				{"boss@xn--strae-oqa.de", "boss@straße.de", "boss@xn--strae-oqa.de"},
				{"BOSS@Straße.de", "boss@straße.de", "boss@xn--strae-oqa.de"},
				{"boss@STRASSE.de", "boss@strasse.de", "boss@strasse.de"},
				{"STRAẞE@example.com", "straße@example.com", "straße@example.com"},
				{"STRASSE@example.com", "strasse@example.com", "strasse@example.com"},
				{"ΣΟΦΙΑΣ@example.com", "σοφιας@example.com", "σοφιας@example.com"},
				{"bob@ΣΟΦΟς.gr", "bob@σοφος.gr", "bob@xn--0xaajbq.gr"},
			} {
				r := testenv.Do(t, "POST", e.url+"/api/users/authenticate",
					map[string]string{"email": c.email, "password": "password of " + c.owner})
				var got loginResult
				r.JSON(t, &got)
				if r.Status != 200 {
					t.Fatalf("login %q with the password of %q: %d %s", c.email, c.owner, r.Status, r.Body)
				}
				var claims struct{ Email string }
				testenv.Payload(t, got.Token, &claims)
				if claims.Email != c.want {
					t.Fatalf("login %q: email claim %q, want %q", c.email, claims.Email, c.want)
				}
			}
			// A variant shape of a letter, which folding made that letter, is
			// neither the letter's account nor a second, look-alike one: a 400
			// naming the field and the rule.
			for _, r := range []testenv.Response{register("ᲃергей@example.com", "a long password 1234"),
				testenv.Do(t, "POST", e.url+"/api/users/authenticate", map[string]string{"email": "ᲃергей@example.com", "password": "x"})} {
				entry := emailProblem(t, r)
				if msg, _ := entry["message"].(string); entry["field"] != "email" || !strings.Contains(msg, "variant shape") {
					t.Fatalf("a variant letter: errors entry %v, want field email and the variant rule", entry)
				}
			}
			// The other mailbox's password opens nothing: they are two accounts.
			for _, c := range []struct{ email, other string }{
				{"boss@straße.de", "boss@strasse.de"}, {"boss@strasse.de", "boss@straße.de"},
				{"straße@example.com", "strasse@example.com"}, {"σοφιασ@example.com", "σοφιας@example.com"},
				{"bob@σοφοσ.gr", "bob@σοφος.gr"},
			} {
				r := testenv.Do(t, "POST", e.url+"/api/users/authenticate",
					map[string]string{"email": c.email, "password": "password of " + c.other})
				if r.Status != 401 {
					t.Fatalf("login %q with the password of %q: %d %s, want 401", c.email, c.other, r.Status, r.Body)
				}
			}
		})
	}
}
