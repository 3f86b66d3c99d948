package property_test

import (
	"context"
	"database/sql"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	jeeves4service "github.com/jeeves4service/jeeves4service"
	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/services/common/database"
)

// Migration 00004 on a database the previous code left: a removed owner's
// pending invitation (the attack 3 state) is gone, a live owner's is kept,
// without an inviter email (none was recorded) and listed without one; the
// service then works on it.
func TestMigration4RemovesDeadInvitationsAndKeepsLiveOnes(t *testing.T) {
	for _, eng := range testenv.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			url := eng.NewURL(t)
			engine, dsn, err := database.ParseURL(url)
			if err != nil {
				t.Fatal(err)
			}
			driver, dialect, ph := "sqlite", goose.DialectSQLite3, []string{"?", "?", "?"}
			if engine == database.Postgres {
				driver, dialect, ph = "pgx", goose.DialectPostgres, []string{"$1", "$2", "$3"}
			}
			conn, err := sql.Open(driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fsys, err := fs.Sub(jeeves4service.Migrations, "sql/"+string(engine)+"/property/migrations")
			if err != nil {
				t.Fatal(err)
			}
			p, err := goose.NewProvider(dialect, conn, fsys, goose.WithDisableGlobalRegistry(true))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.UpTo(context.Background(), 3); err != nil {
				t.Fatalf("migrate to 3: %v", err)
			}
			soon := time.Now().Add(24 * time.Hour).Unix()
			// Property 1: user 1 owns it, user 2 was removed; both had invited someone.
			for _, q := range []struct {
				stmt string
				args []any
			}{
				{"INSERT INTO properties (name, address, created_by, created_at, updated_at) VALUES ('Shared', '', 1, 0, 0)", nil},
				{"INSERT INTO property_members (property_id, user_id, access_level, created_at) VALUES (1, 1, 'owner', 0)", nil},
				{"INSERT INTO invitations (property_id, email, access_level, invited_by, created_at, expires_at) " +
					"VALUES (1, " + ph[0] + ", 'owner', " + ph[1] + ", 0, " + ph[2] + ")", []any{emailOf(3), 2, soon}},
				{"INSERT INTO invitations (property_id, email, access_level, invited_by, created_at, expires_at) " +
					"VALUES (1, " + ph[0] + ", 'member', " + ph[1] + ", 0, " + ph[2] + ")", []any{emailOf(4), 1, soon}},
			} {
				if _, err := conn.Exec(q.stmt, q.args...); err != nil {
					t.Fatalf("%s: %v", q.stmt, err)
				}
			}
			e := startWith(t, url, nil) // migrates to the newest
			var rows []string
			r, err := conn.Query("SELECT email || '/' || invited_by_email FROM invitations ORDER BY id")
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			for r.Next() {
				var s string
				if err := r.Scan(&s); err != nil {
					t.Fatal(err)
				}
				rows = append(rows, s)
			}
			if err := r.Err(); err != nil {
				t.Fatal(err)
			}
			if len(rows) != 1 || rows[0] != emailOf(4)+"/" {
				t.Fatalf("invitations after the migration: %v", rows)
			}
			// A failure below is most likely a 500: its cause is only in the log.
			t.Cleanup(func() {
				if t.Failed() {
					t.Log(e.logs.String())
				}
			})
			if page := e.myInvitations(t, 3, ""); page.TotalCount != 0 {
				t.Fatalf("the removed owner's invitation is listed: %+v", page)
			}
			page := e.myInvitations(t, 4, "")
			if page.TotalCount != 1 || page.Invitations[0].InvitedByEmail != "" {
				t.Fatalf("the live invitation: %+v", page)
			}
			// Made before the mailed secrets (migration 00007), it has none: an
			// owner sends it again, and its mail's secret accepts it.
			testenv.Do(t, "POST", e.url("/api/property/1/invitations/%d/send", page.Invitations[0].ID), nil, e.as(t, 1)...)
			if r := e.accept(t, page.Invitations[0].ID, 4); r.Status != 200 {
				t.Fatalf("accept the live invitation: %d %s", r.Status, r.Body)
			}
		})
	}
}

// The invitee's paging parameters are checked by the contract: 400, a
// problem naming the parameter.
func TestInviteeListRefusesBadPagingParameters(t *testing.T) {
	e := startWith(t, testenv.Engines(t)[0].NewURL(t), nil)
	for _, q := range []struct{ query, field string }{
		{"?limit=0", "limit"}, {"?limit=101", "limit"}, {"?after=-1", "after"}, {"?after=x", "after"},
	} {
		r := testenv.Do(t, "GET", e.url("/api/invitations%s", q.query), nil, e.as(t, 1)...)
		if r.Status != 400 || r.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(string(r.Body), `"`+q.field+`"`) {
			t.Fatalf("%s: %d %s %s", q.query, r.Status, r.Header.Get("Content-Type"), r.Body)
		}
	}
}
