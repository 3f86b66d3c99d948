package property_test

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/services/common/database"
	"github.com/jeeves4service/jeeves4service/services/common/ratelimit"
	"github.com/jeeves4service/jeeves4service/services/property"
)

// Issue 34: sending an invitation again is an owner's act (a member is
// refused, a stranger sees nothing), spends the invitation budgets as an
// invitation does (each is a mail to someone who did not ask), and makes a
// new secret: the previous mail's secret no longer accepts it.
func TestSendingAgainIsOwnersBudgetedAndKillsTheOldSecret(t *testing.T) {
	eachWith(t, func(c *property.Config) {
		c.InvitationsPerOwner = ratelimit.Budget{Count: 2, Window: 24 * time.Hour}
	}, func(t *testing.T, e *env) {
		const owner, member, stranger, ada = 1, 2, 3, 4
		id := e.createProperty(t, owner, "Cottage")
		e.addMember(t, owner, id, member, "member") // the owner's first invitation
		inv := e.invite(t, owner, id, emailOf(ada), "guest")
		old := e.mail.Secret(t, inv)
		send := func(who int64) testenv.Response {
			return testenv.Do(t, "POST", e.url("/api/property/%d/invitations/%d/send", id, inv), nil, e.as(t, who)...)
		}
		if r := send(member); r.Status != 403 {
			t.Fatalf("a member sends it again: %d %s", r.Status, r.Body)
		}
		if r := send(stranger); r.Status != 404 {
			t.Fatalf("a stranger sends it again: %d %s", r.Status, r.Body)
		}
		if e.mail.Count(emailOf(ada)) != 1 {
			t.Fatal("a refused send mailed")
		}
		// The owner's budget (2) is spent by the two invitations.
		if r := send(owner); r.Status != 429 || r.Header.Get("Retry-After") == "" {
			t.Fatalf("past the owner's budget: %d %s", r.Status, r.Body)
		}
		if e.mail.Count(emailOf(ada)) != 1 {
			t.Fatal("a send past the budget mailed")
		}
		// Nothing was sent again: the first mail's secret still holds.
		if r := testenv.Do(t, "POST", e.url("/api/invitations/%d/accept", inv), map[string]string{"secret": old},
			e.as(t, ada)...); r.Status != 200 {
			t.Fatalf("accept: %d %s", r.Status, r.Body)
		}
	})
}

// Sending again makes a new secret: the previous mail's no longer accepts.
// (A test of its own: two eachWith runs in one test name their subtests
// sqlite and sqlite#01, and a # in a sqlite: URL cuts its path.)
func TestSendingAgainKillsTheOldSecret(t *testing.T) {
	eachWith(t, noInvitationBudgets, func(t *testing.T, e *env) {
		const owner, ada = 1, 4
		id := e.createProperty(t, owner, "Cottage")
		inv := e.invite(t, owner, id, emailOf(ada), "guest")
		old := e.mail.Secret(t, inv)
		r := testenv.Do(t, "POST", e.url("/api/property/%d/invitations/%d/send", id, inv), nil, e.as(t, owner)...)
		var sent struct {
			ID   int64 `json:"id"`
			Sent bool  `json:"sent"`
		}
		r.JSON(t, &sent)
		if r.Status != 200 || sent.ID != inv || !sent.Sent || e.mail.Secret(t, inv) == old {
			t.Fatalf("sent again: %d %s", r.Status, r.Body)
		}
		if r := testenv.Do(t, "POST", e.url("/api/invitations/%d/accept", inv), map[string]string{"secret": old},
			e.as(t, ada)...); r.Status != 404 {
			t.Fatalf("the old secret: %d %s", r.Status, r.Body)
		}
		if r := testenv.Do(t, "POST", e.url("/api/property/%d/invitations/%d/send", id, inv+1000), nil,
			e.as(t, owner)...); r.Status != 404 {
			t.Fatalf("no such invitation: %d %s", r.Status, r.Body)
		}
		if r := e.accept(t, inv, ada); r.Status != 200 {
			t.Fatalf("the new secret: %d %s", r.Status, r.Body)
		}
	})
}

// An invitation from before the secrets (migration 00007: no secret_hash)
// is accepted by no secret at all, until an owner sends it again.
func TestInvitationWithoutSecretIsAcceptedByNone(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		const owner, ada = 1, 4
		id := e.createProperty(t, owner, "Cottage")
		inv := e.invite(t, owner, id, emailOf(ada), "owner")
		secret := e.mail.Secret(t, inv)
		e.sql(t, "UPDATE invitations SET secret_hash = NULL, sent_at = NULL WHERE id = ?", inv)
		if r := testenv.Do(t, "POST", e.url("/api/invitations/%d/accept", inv), map[string]string{"secret": secret},
			e.as(t, ada)...); r.Status != 404 {
			t.Fatalf("a secret for an invitation that has none: %d %s", r.Status, r.Body)
		}
		var list invitationList
		testenv.Do(t, "GET", e.url("/api/property/%d/invitations", id), nil, e.as(t, owner)...).JSON(t, &list)
		if list.TotalCount != 1 || list.Invitations[0].Sent {
			t.Fatalf("the owner's list: %+v", list)
		}
		testenv.Do(t, "POST", e.url("/api/property/%d/invitations/%d/send", id, inv), nil, e.as(t, owner)...)
		if r := e.accept(t, inv, ada); r.Status != 200 {
			t.Fatalf("accept once sent again: %d %s", r.Status, r.Body)
		}
	})
}

// sql runs one statement on the service's database (? placeholders become
// $n on PostgreSQL): a state no request can make.
func (e *env) sql(t *testing.T, query string, args ...any) {
	t.Helper()
	engine, dsn, err := database.ParseURL(e.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	driver := "sqlite"
	if engine == database.Postgres {
		driver = "pgx"
		for i := 1; strings.Contains(query, "?"); i++ {
			query = strings.Replace(query, "?", fmt.Sprintf("$%d", i), 1)
		}
	}
	conn, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}
