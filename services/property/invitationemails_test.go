package property_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/services/common/database"
	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
)

// Issue 34, the migration: pending invitations stored in the canonical form
// from before (case folded before IDNA) are checked once at the first start
// after it: put in the new form (Cherokee: folding made it upper case), or
// reported by invitation and property id when they have no canonical form,
// when the property has an invitation to the new form already, or when they
// may stand for another mailbox (boss@strasse.de may have been typed
// boss@straße.de).
func TestStoredInvitationEmailsAreMigratedOrReported(t *testing.T) {
	for _, eng := range testenv.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			url := eng.NewURL(t)
			conn, _ := testenv.MigratedTo(t, url, "property", 3)
			ctx := context.Background()
			var property int64
			if err := conn.QueryRowContext(ctx, `INSERT INTO properties (name, created_by, created_at, updated_at)
				VALUES ('Old house', 1, 1, 1) RETURNING id`).Scan(&property); err != nil {
				t.Fatal(err)
			}
			// The inviter owns the house: migration 00004 deletes the
			// pending invitations of an inviter who owns nothing.
			if _, err := conn.ExecContext(ctx, fmt.Sprintf(`INSERT INTO property_members (property_id, user_id, access_level, created_at)
				VALUES (%d, 1, 'owner', 1)`, property)); err != nil {
				t.Fatal(err)
			}
			ids := map[string]int64{}
			for _, email := range []string{"boss@strasse.de", "Ꭰ@example.com", "Ꭱ@example.com", "ꭱ@example.com", "bоb@example.com",
				"bob@example.com"} {
				var id int64
				err := conn.QueryRowContext(ctx, fmt.Sprintf(`INSERT INTO invitations (property_id, email, access_level, invited_by,
					created_at, expires_at) VALUES (%d, '%s', 'member', 1, 1, %d) RETURNING id`, property, email, time.Now().Add(time.Hour).Unix())).
					Scan(&id)
				if err != nil {
					t.Fatal(err)
				}
				ids[email] = id
			}
			_ = conn.Close()

			e := startWith(t, url, nil)
			if n := e.logs.Lines("stored invitation emails put in canonical form"); len(n) != 1 || n[0]["count"] != float64(1) {
				t.Fatalf("canonicalised: %v, want one line with count 1", n)
			}
			for msg, email := range map[string]string{
				"stored invitation email has no canonical form: nobody can accept it":                                  "bоb@example.com",
				"stored invitation email's canonical form is invited to the property already: nobody can accept it":    "Ꭱ@example.com",
				"stored invitation email may stand for another mailbox (an old canonical form folded ß, ς or ι): kept": "boss@strasse.de",
			} {
				lines := e.logs.Lines(msg)
				if len(lines) != 1 || lines[0]["level"] != "WARN" || lines[0]["invitation_id"] != float64(ids[email]) ||
					lines[0]["property_id"] != float64(property) {
					t.Fatalf("%q: %v, want invitation %d", msg, lines, ids[email])
				}
			}
			// The Cherokee invitation is now the lower-case form, which the
			// user service signs into that account's tokens.
			stored, _, err := database.Open(ctx, url, "property", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer stored.Close()
			var email string
			if err := stored.QueryRowContext(ctx, fmt.Sprintf("SELECT email FROM invitations WHERE id = %d", ids["Ꭰ@example.com"])).
				Scan(&email); err != nil || email != "ꭰ@example.com" {
				t.Fatalf("the Cherokee invitation: %q %v", email, err)
			}
			tok, _, err := e.issuer.Signer.Sign(jwtauth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "77"}, UserID: 77,
				Username: "ꭰ@example.com", Email: "ꭰ@example.com", TraceID: "test"}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			var list invitationList
			testenv.Do(t, "GET", e.url("/api/invitations"), nil, testenv.Bearer(tok)...).JSON(t, &list)
			if len(list.Invitations) != 1 || list.Invitations[0].ID != ids["Ꭰ@example.com"] {
				t.Fatalf("the Cherokee account's invitations: %+v", list)
			}
			// Once: nothing is left to check.
			again := startWith(t, url, nil)
			if n := len(again.logs.Lines("stored invitation emails put in canonical form")) +
				len(again.logs.Lines("stored invitation email may stand for another mailbox (an old canonical form folded ß, ς or ι): kept")); n != 0 {
				t.Fatalf("second start: %d lines again", n)
			}
			var left int
			if err := stored.QueryRowContext(ctx, "SELECT COUNT(*) FROM invitation_emails_to_check").Scan(&left); err != nil || left != 0 {
				t.Fatalf("left to check: %d %v", left, err)
			}
		})
	}
}
