package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
)

// Issue 34, attack 1: registration proves nothing about a mailbox, so an
// owner-level invitation to an address without an account was accepted by
// whoever registered the address first (5 of 5 attempts made the attacker an
// owner). Five squatters, each on an address invited as owner before it had
// an account, each signed in with that address and seeing the invitation,
// try to accept it without the mail's secret: nobody becomes a member, and
// the invitation is still pending for the mailbox's real owner.
func TestSquattedAddressCannotAcceptWithoutTheMail(t *testing.T) {
	for _, eng := range testenv.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			s := startSystem(t, eng)
			register(t, s, "owner@example.com", "owner password 1234")
			owner, _ := login(t, s, "owner@example.com", "owner password 1234")
			attempts := []struct {
				name string
				body any
			}{
				{"no body, the call as it was", nil},
				{"an empty body", map[string]any{}},
				{"an empty secret", map[string]any{"secret": ""}},
				{"a guessed secret", map[string]any{"secret": strings.Repeat("A", 43)}},
				{"another guessed secret", map[string]any{"secret": "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"}},
			}
			for i, a := range attempts {
				var p struct{ ID int64 }
				testenv.Do(t, "POST", s.property+"/api/properties/", map[string]string{"name": fmt.Sprintf("Home %d", i)},
					testenv.Bearer(owner.Token)...).JSON(t, &p)
				owner = mustRefresh(t, s, owner.RefreshToken)
				victim := fmt.Sprintf("squatted%d@example.com", i)
				if r := testenv.Do(t, "POST", fmt.Sprintf("%s/api/property/%d/invitations", s.property, p.ID),
					map[string]string{"email": victim, "access_level": "owner"}, testenv.Bearer(owner.Token)...); r.Status != 201 {
					t.Fatalf("invite: %d %s", r.Status, r.Body)
				}
				// The squatter registers the address first and sees the invitation.
				register(t, s, victim, "squatter password 1234")
				squatter, _ := login(t, s, victim, "squatter password 1234")
				var mine invitationList
				testenv.Do(t, "GET", s.property+"/api/invitations", nil, testenv.Bearer(squatter.Token)...).JSON(t, &mine)
				if len(mine.Invitations) != 1 {
					t.Fatalf("%s: the squatter's list: %+v", a.name, mine)
				}
				r := testenv.DoUnchecked(t, "POST", fmt.Sprintf("%s/api/invitations/%d/accept", s.property, mine.Invitations[0].ID),
					a.body, testenv.Bearer(squatter.Token)...)
				if r.Status/100 == 2 {
					t.Errorf("%s: the squatter accepted the owner-level invitation: %d %s", a.name, r.Status, r.Body)
				}
				if ids := claimedProperties(t, s, mustRefresh(t, s, squatter.RefreshToken).Token); len(ids) != 0 {
					t.Errorf("%s: the squatter's token claims %v", a.name, ids)
				}
				var members memberList
				testenv.Do(t, "GET", fmt.Sprintf("%s/api/property/%d/members", s.property, p.ID), nil,
					testenv.Bearer(owner.Token)...).JSON(t, &members)
				if len(members.Members) != 1 {
					t.Errorf("%s: the property's members: %+v", a.name, members)
				}
				var pending invitationList
				testenv.Do(t, "GET", fmt.Sprintf("%s/api/property/%d/invitations", s.property, p.ID), nil,
					testenv.Bearer(owner.Token)...).JSON(t, &pending)
				if len(pending.Invitations) != 1 {
					t.Errorf("%s: the invitation did not stay pending: %+v", a.name, pending)
				}
			}
		})
	}
}

type invitationList struct {
	Invitations []struct {
		ID    int64  `json:"id"`
		Email string `json:"email"`
		Sent  *bool  `json:"sent"`
	} `json:"invitations"`
}
