package property_test

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/services/common/database"
	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
)

// exec runs one statement on the service's database itself (sqlite and
// postgres are the statement in each dialect): for a state no request can
// make.
func (e *env) exec(t *testing.T, sqlite, postgres string, args ...any) {
	t.Helper()
	engine, dsn, err := database.ParseURL(e.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	driver, stmt := "sqlite", sqlite
	if engine == database.Postgres {
		driver, stmt = "pgx", postgres
	}
	conn, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Exec(stmt, args...); err != nil {
		t.Fatalf("exec %q: %v", stmt, err)
	}
}

// myInvitations is one page of user's own invitation list (query: "" or
// "?limit=..&after=..").
func (e *env) myInvitations(t *testing.T, user int64, query string) invitationPage {
	t.Helper()
	r := testenv.Do(t, "GET", e.url("/api/invitations%s", query), nil, e.as(t, user)...)
	if r.Status != 200 {
		t.Fatalf("GET /api/invitations%s: %d %s", query, r.Status, r.Body)
	}
	var page invitationPage
	r.JSON(t, &page)
	return page
}

type invitationPage struct {
	Invitations []struct {
		ID             int64  `json:"id"`
		PropertyID     int64  `json:"property_id"`
		InvitedBy      int64  `json:"invited_by"`
		InvitedByEmail string `json:"invited_by_email"`
	} `json:"invitations"`
	TotalCount int    `json:"total_count"`
	NextAfter  *int64 `json:"next_after"`
}

// Issue 34, attack 3: a co-owner invites a second address of their own as
// owner and is then removed (or demoted). The invitation was the co-owner's
// act while they were an owner: it dies with the ownership, so the second
// account becomes nothing, and the remaining owner stays owner.
func TestAnInvitationDiesWithItsInvitersOwnership(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		const owner, coOwner, second = 1, 2, 3
		for _, how := range []string{"removed", "demoted"} {
			id := e.createProperty(t, owner, "Shared "+how)
			e.addMember(t, owner, id, coOwner, "owner")
			inv := e.invite(t, coOwner, id, emailOf(second), "owner")
			var r testenv.Response
			if how == "removed" {
				r = testenv.Do(t, "DELETE", e.url("/api/property/%d/members/%d", id, coOwner), nil, e.as(t, owner)...)
			} else {
				r = testenv.Do(t, "PUT", e.url("/api/property/%d/members/%d", id, coOwner), map[string]string{"access_level": "member"},
					e.as(t, owner)...)
			}
			if r.Status != 204 && r.Status != 200 {
				t.Fatalf("%s: %d %s", how, r.Status, r.Body)
			}
			if page := e.myInvitations(t, second, ""); page.TotalCount != 0 || len(page.Invitations) != 0 {
				t.Fatalf("%s: the second account still sees the invitation: %+v", how, page)
			}
			var list invitationList
			testenv.Do(t, "GET", e.url("/api/property/%d/invitations", id), nil, e.as(t, owner)...).JSON(t, &list)
			if list.TotalCount != 0 {
				t.Fatalf("%s: the owner's list still holds it: %+v", how, list)
			}
			if r := testenv.Do(t, "POST", e.url("/api/invitations/%d/accept", inv), e.secretOf(t, inv), e.as(t, second)...); r.Status != 404 {
				t.Fatalf("%s: accepting the co-owner's invitation: %d %s", how, r.Status, r.Body)
			}
			// The second account could not remove the owner even if it tried: it is nobody here.
			if r := testenv.Do(t, "DELETE", e.url("/api/property/%d/members/%d", id, owner), nil, e.as(t, second)...); r.Status != 404 {
				t.Fatalf("%s: the second account removes the owner: %d %s", how, r.Status, r.Body)
			}
			var got struct {
				AccessLevel string `json:"access_level"`
			}
			testenv.Do(t, "GET", e.url("/api/property/%d", id), nil, e.as(t, owner)...).JSON(t, &got)
			if got.AccessLevel != "owner" {
				t.Fatalf("%s: the owner is now %q", how, got.AccessLevel)
			}
		}
		if n := e.claimsOf(t, second); n != 0 {
			t.Fatalf("the second account is a member of %d properties", n)
		}
	})
}

// The accept checks the inviter's ownership again, at the moment of the
// accept: an invitation whose inviter is no longer an owner (here demoted in
// the database itself, as a revocation racing the invitation could leave it)
// is dead, 404 like any missing one, and changes nothing.
func TestAcceptChecksTheInviterIsStillAnOwner(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		const owner, coOwner, invitee = 1, 2, 3
		id := e.createProperty(t, owner, "Shared")
		e.addMember(t, owner, id, coOwner, "owner")
		inv := e.invite(t, coOwner, id, emailOf(invitee), "owner")
		e.exec(t, "UPDATE property_members SET access_level = 'member' WHERE property_id = ? AND user_id = ?",
			"UPDATE property_members SET access_level = 'member' WHERE property_id = $1 AND user_id = $2", id, coOwner)
		if page := e.myInvitations(t, invitee, ""); page.TotalCount != 0 {
			t.Fatalf("a dead invitation is listed: %+v", page)
		}
		r := testenv.Do(t, "POST", e.url("/api/invitations/%d/accept", inv), e.secretOf(t, inv), e.as(t, invitee)...)
		if r.Status != 404 || !strings.Contains(string(r.Body), "No such invitation") {
			t.Fatalf("accept of a dead invitation: %d %s", r.Status, r.Body)
		}
		if n := e.claimsOf(t, invitee); n != 0 {
			t.Fatalf("the invitee became a member of %d properties", n)
		}
		// The inviter made owner again: the invitation is theirs again.
		e.exec(t, "UPDATE property_members SET access_level = 'owner' WHERE property_id = ? AND user_id = ?",
			"UPDATE property_members SET access_level = 'owner' WHERE property_id = $1 AND user_id = $2", id, coOwner)
		if r := e.accept(t, inv, invitee); r.Status != 200 {
			t.Fatalf("accept once the inviter owns again: %d %s", r.Status, r.Body)
		}
	})
}

// spam has each of inviters invite victim's address to n properties of
// their own, and counts the answers by status.
func (e *env) spam(t *testing.T, inviters []int64, n int, victim int64) map[int]int {
	t.Helper()
	statuses := map[int]int{}
	for _, a := range inviters {
		for i := 0; i < n; i++ {
			id := e.createProperty(t, a, fmt.Sprintf("Spam %d by %d", i, a))
			r := testenv.Do(t, "POST", e.url("/api/property/%d/invitations", id),
				map[string]string{"email": emailOf(victim), "access_level": "owner"}, e.as(t, a)...)
			statuses[r.Status]++
			if r.Status == 429 && r.Header.Get("Retry-After") == "" {
				t.Fatalf("429 without Retry-After: %v", r.Header)
			}
		}
	}
	return statuses
}

// Issue 34, attack 4: six throwaway accounts invite a victim to 20
// properties each; a real invitation sent afterwards is listed (the list is
// paged, its total_count true) and says who sent it by account email.
func TestInviteeListIsPagedWithATrueCount(t *testing.T) {
	eachWith(t, noInvitationBudgets, func(t *testing.T, e *env) {
		const friend, victim = 9, 77
		if s := e.spam(t, []int64{101, 102, 103, 104, 105, 106}, 20, victim); s[201] != 120 {
			t.Fatalf("spam: %v", s)
		}
		real := e.invite(t, friend, e.createProperty(t, friend, "Real"), emailOf(victim), "member")

		first := e.myInvitations(t, victim, "")
		if first.TotalCount != 121 || len(first.Invitations) != 100 || first.NextAfter == nil {
			t.Fatalf("first page: total %d, %d items, next %v", first.TotalCount, len(first.Invitations), first.NextAfter)
		}
		second := e.myInvitations(t, victim, fmt.Sprintf("?after=%d", *first.NextAfter))
		if second.TotalCount != 121 || len(second.Invitations) != 21 || second.NextAfter != nil {
			t.Fatalf("second page: total %d, %d items, next %v", second.TotalCount, len(second.Invitations), second.NextAfter)
		}
		last := second.Invitations[20]
		if last.ID != real || last.InvitedBy != friend || last.InvitedByEmail != emailOf(friend) {
			t.Fatalf("the real invitation: %+v (want id %d by %s)", last, real, emailOf(friend))
		}
		// Smaller pages walk the same list, each id once.
		seen, after := map[int64]bool{}, int64(0)
		for pages := 0; ; pages++ {
			p := e.myInvitations(t, victim, fmt.Sprintf("?limit=50&after=%d", after))
			for _, i := range p.Invitations {
				if seen[i.ID] {
					t.Fatalf("invitation %d listed twice", i.ID)
				}
				seen[i.ID] = true
			}
			if p.NextAfter == nil {
				break
			}
			if pages > 3 {
				t.Fatal("the pages never end")
			}
			after = *p.NextAfter
		}
		if len(seen) != 121 || !seen[real] {
			t.Fatalf("pages of 50 saw %d invitations (real one: %v)", len(seen), seen[real])
		}
	})
}

// A stranger's invitations to one address are budgeted (3 a day by
// default, per inviter and invitee): the six throwaway accounts get 3 each
// in, then 429 with Retry-After and the budget's fields; the friend's real
// invitation still goes through and is listed with the friend's verified
// email.
func TestStrangerInvitationBudget(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		const friend, victim = 9, 77
		s := e.spam(t, []int64{101, 102, 103, 104, 105, 106}, 20, victim)
		if s[201] != 18 || s[429] != 102 {
			t.Fatalf("spam with the default budgets: %v", s)
		}
		id := e.createProperty(t, 101, "One more")
		r := testenv.Do(t, "POST", e.url("/api/property/%d/invitations", id),
			map[string]string{"email": emailOf(victim), "access_level": "guest"}, e.as(t, 101)...)
		if r.Status != 429 || r.Header.Get("RateLimit-Policy") != `"invitations-invitee";q=3;w=86400` ||
			!strings.HasPrefix(r.Header.Get("RateLimit"), `"invitations-invitee";r=0;`) || r.Header.Get("Retry-After") == "" {
			t.Fatalf("past the invitee budget: %d %v %s", r.Status, r.Header, r.Body)
		}
		// The refused invitation spent nothing else: 101 still invites another address.
		e.invite(t, 101, id, "someone-else@example.com", "guest")
		real := e.invite(t, friend, e.createProperty(t, friend, "Real"), emailOf(victim), "member")
		page := e.myInvitations(t, victim, "")
		if page.TotalCount != 19 || len(page.Invitations) != 19 || page.NextAfter != nil {
			t.Fatalf("the victim's list: total %d, %d items", page.TotalCount, len(page.Invitations))
		}
		if got := page.Invitations[18]; got.ID != real || got.InvitedByEmail != emailOf(friend) {
			t.Fatalf("the real invitation: %+v", got)
		}
		// The owner's list names the inviter by account email too.
		var list struct {
			Invitations []struct {
				InvitedByEmail string `json:"invited_by_email"`
			} `json:"invitations"`
		}
		testenv.Do(t, "GET", e.url("/api/property/%d/invitations", id), nil, e.as(t, 101)...).JSON(t, &list)
		if len(list.Invitations) != 1 || list.Invitations[0].InvitedByEmail != emailOf(101) {
			t.Fatalf("the owner's list: %+v", list)
		}
	})
}

// An invitation shows the invitee its inviter's account email: an owner
// whose token carries no email claim (an old account whose stored address
// has no canonical form) cannot invite (403, a problem), and nothing is
// stored or spent.
func TestAnInviterWithoutAVerifiedEmailCannotInvite(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		const legacy, victim = 5, 77
		id := e.createProperty(t, legacy, "Old account's")
		tok, _, err := e.issuer.Signer.Sign(jwtauth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: fmt.Sprint(legacy)},
			UserID: legacy, Username: "Legacy@Example.com", TraceID: "test"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		r := testenv.Do(t, "POST", e.url("/api/property/%d/invitations", id),
			map[string]string{"email": emailOf(victim), "access_level": "guest"}, testenv.Bearer(tok)...)
		if r.Status != 403 || r.Header.Get("Content-Type") != "application/problem+json" ||
			!strings.Contains(string(r.Body), "no email address in canonical form") {
			t.Fatalf("invite without an email claim: %d %s %s", r.Status, r.Header.Get("Content-Type"), r.Body)
		}
		if page := e.myInvitations(t, victim, ""); page.TotalCount != 0 {
			t.Fatalf("stored anyway: %+v", page)
		}
	})
}

// A removal racing the removed owner's own invitations: whatever the order,
// once the removal has answered, none of them works. One written from a
// snapshot in which the co-owner still owned escapes the removal's revocation
// on PostgreSQL; the reads' check of the inviter's ownership kills it.
func TestRemovalRacingInvitationsLeavesNoneAlive(t *testing.T) {
	eachWith(t, noInvitationBudgets, func(t *testing.T, e *env) {
		const owner, coOwner, rounds, invites = 1, 2, 10, 8
		ownerAuth, coAuth := e.as(t, owner), e.as(t, coOwner)
		invitees := make([][]string, invites)
		for i := range invitees {
			invitees[i] = e.as(t, int64(300+i))
		}
		for round := 0; round < rounds; round++ {
			id := e.createProperty(t, owner, fmt.Sprintf("Race %d", round))
			e.addMember(t, owner, id, coOwner, "owner")
			var removed testenv.Response
			testenv.Concurrently(t, invites+1, func(i int) error {
				if i == invites {
					r, err := testenv.Try("DELETE", e.url("/api/property/%d/members/%d", id, coOwner), nil, ownerAuth...)
					removed = r
					return err
				}
				_, err := testenv.Try("POST", e.url("/api/property/%d/invitations", id),
					map[string]string{"email": emailOf(int64(300 + i)), "access_level": "owner"}, coAuth...)
				return err
			})
			if removed.Status != 204 {
				t.Fatalf("round %d: removal %d %s", round, removed.Status, removed.Body)
			}
			for i := range invitees {
				if page := e.myInvitations(t, int64(300+i), ""); page.TotalCount != 0 {
					t.Fatalf("round %d: invitee %d still sees %+v", round, 300+i, page)
				}
			}
		}
		for i := range invitees {
			for inv := int64(1); inv <= rounds*invites+rounds; inv++ {
				// With the invitation's own mailed secret where it has one: what kills it is the revocation.
				secret := strings.Repeat("A", 43)
				if m, ok := e.mail.Find(inv); ok {
					secret = m.Secret
				}
				if r := testenv.DoUnchecked(t, "POST", e.url("/api/invitations/%d/accept", inv), map[string]string{"secret": secret},
					invitees[i]...); r.Status != 404 {
					t.Fatalf("invitee %d accepted invitation %d: %d %s", 300+i, inv, r.Status, r.Body)
				}
			}
		}
	})
}
