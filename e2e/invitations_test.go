package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
)

// account registers email and signs in: its id and access token.
func account(t *testing.T, s *system, email string) (int64, string) {
	t.Helper()
	id := register(t, s, email, "a long enough password 1")
	sess, r := login(t, s, email, "a long enough password 1")
	if r.Status != 200 {
		t.Fatalf("login %s: %d %s", email, r.Status, r.Body)
	}
	return id, sess.Token
}

// createHome creates a property as token's holder and returns its id.
func createHome(t *testing.T, s *system, token, name string) int64 {
	t.Helper()
	r := testenv.Do(t, "POST", s.property+"/api/properties/", map[string]string{"name": name}, testenv.Bearer(token)...)
	if r.Status != 201 {
		t.Fatalf("create %s: %d %s", name, r.Status, r.Body)
	}
	var p struct{ ID int64 }
	r.JSON(t, &p)
	return p.ID
}

// inviteAs sends an invitation with token and returns its answer.
func inviteAs(t *testing.T, s *system, token string, id int64, email, level string) testenv.Response {
	t.Helper()
	return testenv.Do(t, "POST", fmt.Sprintf("%s/api/property/%d/invitations", s.property, id),
		map[string]string{"email": email, "access_level": level}, testenv.Bearer(token)...)
}

type myInvitationPage struct {
	Invitations []struct {
		ID             int64  `json:"id"`
		InvitedByEmail string `json:"invited_by_email"`
	} `json:"invitations"`
	TotalCount int    `json:"total_count"`
	NextAfter  *int64 `json:"next_after"`
}

func myInvitations(t *testing.T, s *system, token, query string) myInvitationPage {
	t.Helper()
	var page myInvitationPage
	r := testenv.Do(t, "GET", s.property+"/api/invitations"+query, nil, testenv.Bearer(token)...)
	if r.Status != 200 {
		t.Fatalf("GET /api/invitations%s: %d %s", query, r.Status, r.Body)
	}
	r.JSON(t, &page)
	return page
}

// Issue 34, attack 3, against both real services: a co-owner invites a
// second address of their own as owner and is then removed (and, on a
// second property, demoted). The second account's accept answers 404 and
// changes nothing; it cannot remove the remaining owner, who stays owner.
func TestRemovedOwnersInvitationIsDead(t *testing.T) {
	for _, eng := range testenv.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			s := startSystem(t, eng)
			ownerID, owner := account(t, s, "owner@example.com")
			coID, co := account(t, s, "co@example.com")
			for _, how := range []string{"removed", "demoted"} {
				home := createHome(t, s, owner, "Shared "+how)
				r := inviteAs(t, s, owner, home, "co@example.com", "owner")
				var inv struct{ ID int64 }
				r.JSON(t, &inv)
				if r := testenv.Do(t, "POST", fmt.Sprintf("%s/api/invitations/%d/accept", s.property, inv.ID),
					map[string]string{"secret": s.mail.Secret(t, inv.ID)}, testenv.Bearer(co)...); r.Status != 200 {
					t.Fatalf("the co-owner accepts: %d %s", r.Status, r.Body)
				}
				if r := inviteAs(t, s, co, home, "co.second@example.com", "owner"); r.Status != 201 {
					t.Fatalf("the co-owner invites their second address: %d %s", r.Status, r.Body)
				}
				member := fmt.Sprintf("%s/api/property/%d/members/%d", s.property, home, coID)
				if how == "removed" {
					r = testenv.Do(t, "DELETE", member, nil, testenv.Bearer(owner)...)
				} else {
					r = testenv.Do(t, "PUT", member, map[string]string{"access_level": "member"}, testenv.Bearer(owner)...)
				}
				if r.Status != 204 && r.Status != 200 {
					t.Fatalf("%s: %d %s", how, r.Status, r.Body)
				}
			}
			_, second := account(t, s, "co.second@example.com")
			if page := myInvitations(t, s, second, ""); page.TotalCount != 0 {
				t.Fatalf("the second account still sees %d invitations", page.TotalCount)
			}
			// Its ids, guessed: 404 and nothing changes.
			for id := int64(1); id <= 6; id++ {
				// With the invitation's own mailed secret where there was one: what kills it is the revocation.
				secret := strings.Repeat("A", 43)
				if m, ok := s.mail.Find(id); ok {
					secret = m.Secret
				}
				if r := testenv.DoUnchecked(t, "POST", fmt.Sprintf("%s/api/invitations/%d/accept", s.property, id),
					map[string]string{"secret": secret}, testenv.Bearer(second)...); r.Status != 404 {
					t.Fatalf("accept %d: %d %s", id, r.Status, r.Body)
				}
			}
			var props struct {
				Properties []struct {
					ID          int64  `json:"id"`
					AccessLevel string `json:"access_level"`
				} `json:"properties"`
			}
			testenv.Do(t, "GET", s.property+"/api/properties/", nil, testenv.Bearer(second)...).JSON(t, &props)
			if len(props.Properties) != 0 {
				t.Fatalf("the second account sees %+v", props)
			}
			testenv.Do(t, "GET", s.property+"/api/properties/", nil, testenv.Bearer(owner)...).JSON(t, &props)
			if len(props.Properties) != 2 || props.Properties[0].AccessLevel != "owner" || props.Properties[1].AccessLevel != "owner" {
				t.Fatalf("user %d's properties: %+v", ownerID, props)
			}
		})
	}
}

// Issue 34, attack 4, against both real services: six throwaway accounts
// invite a victim to 20 properties each (the per-invitee budget turned off,
// as if the spam came over days); a real invitation sent afterwards is
// listed on the second page, the total_count is true, and the list names the
// real inviter by the email the user service signed into their token.
func TestRealInvitationAfterSpamIsListed(t *testing.T) {
	for _, eng := range testenv.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			s := startSystemWith(t, eng, map[string]string{"INVITATION_LIMIT_PER_INVITEE": "off"})
			for a := 0; a < 6; a++ {
				_, spammer := account(t, s, fmt.Sprintf("throwaway%d@example.net", a))
				for i := 0; i < 20; i++ {
					home := createHome(t, s, spammer, fmt.Sprintf("Free money %d", i))
					if r := inviteAs(t, s, spammer, home, "victim@example.com", "owner"); r.Status != 201 {
						t.Fatalf("spam %d/%d: %d %s", a, i, r.Status, r.Body)
					}
				}
			}
			_, friend := account(t, s, "friend@example.com")
			r := inviteAs(t, s, friend, createHome(t, s, friend, "Our flat"), "victim@example.com", "member")
			var real struct{ ID int64 }
			r.JSON(t, &real)

			_, victim := account(t, s, "victim@example.com")
			first := myInvitations(t, s, victim, "")
			if first.TotalCount != 121 || len(first.Invitations) != 100 || first.NextAfter == nil {
				t.Fatalf("first page: total %d, %d items, next %v", first.TotalCount, len(first.Invitations), first.NextAfter)
			}
			if first.Invitations[0].InvitedByEmail != "throwaway0@example.net" {
				t.Fatalf("the spam's inviter: %+v", first.Invitations[0])
			}
			second := myInvitations(t, s, victim, fmt.Sprintf("?after=%d", *first.NextAfter))
			if second.TotalCount != 121 || len(second.Invitations) != 21 || second.NextAfter != nil {
				t.Fatalf("second page: total %d, %d items, next %v", second.TotalCount, len(second.Invitations), second.NextAfter)
			}
			if got := second.Invitations[20]; got.ID != real.ID || got.InvitedByEmail != "friend@example.com" {
				t.Fatalf("the real invitation: %+v, want id %d from friend@example.com", got, real.ID)
			}
		})
	}
}
