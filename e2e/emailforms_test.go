package e2e

import (
	"fmt"
	"testing"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
)

// Issue 34, attack 2, end to end: an invitation to boss@straße.de is seen by
// the account registered as boss@xn--strae-oqa.de (the same domain, as its
// A-label) and not by boss@strasse.de (another domain), which cannot
// accept it either. Before, both spellings of straße.de were stored as
// strasse.de: the invitation went to the wrong mailbox's account.
func TestInvitationToAnIDNReachesItsMailboxOnly(t *testing.T) {
	for _, eng := range testenv.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			s := startSystem(t, eng)
			register(t, s, "owner@example.com", "owner password 1234")
			owner, _ := login(t, s, "owner@example.com", "owner password 1234")
			var p struct{ ID int64 }
			testenv.Do(t, "POST", s.property+"/api/properties/", map[string]string{"name": "Stadthaus"},
				testenv.Bearer(owner.Token)...).JSON(t, &p)
			owner = mustRefresh(t, s, owner.RefreshToken)
			r := testenv.Do(t, "POST", fmt.Sprintf("%s/api/property/%d/invitations", s.property, p.ID),
				map[string]string{"email": "Boss@Straße.de", "access_level": "owner"}, testenv.Bearer(owner.Token)...)
			var inv struct {
				ID    int64
				Email string
			}
			r.JSON(t, &inv)
			if r.Status != 201 {
				t.Fatalf("invite Boss@Straße.de: %d %s", r.Status, r.Body)
			}
			if inv.Email != "boss@xn--strae-oqa.de" {
				t.Errorf("Boss@Straße.de invited as %q, want boss@xn--strae-oqa.de", inv.Email)
			}
			register(t, s, "boss@strasse.de", "another mailbox 1234")
			register(t, s, "boss@xn--strae-oqa.de", "the right mailbox 1234")
			invitations := func(token string) []int64 {
				var mine struct {
					Invitations []struct {
						ID int64 `json:"id"`
					} `json:"invitations"`
				}
				testenv.Do(t, "GET", s.property+"/api/invitations", nil, testenv.Bearer(token)...).JSON(t, &mine)
				var ids []int64
				for _, i := range mine.Invitations {
					ids = append(ids, i.ID)
				}
				return ids
			}
			other, _ := login(t, s, "boss@strasse.de", "another mailbox 1234")
			if got := invitations(other.Token); len(got) != 0 {
				t.Fatalf("boss@strasse.de sees the invitation to boss@straße.de: %v", got)
			}
			// With the invitation's own mailed secret: what refuses it is the address.
			if r := testenv.Do(t, "POST", fmt.Sprintf("%s/api/invitations/%d/accept", s.property, inv.ID),
				map[string]string{"secret": s.mail.Secret(t, inv.ID)}, testenv.Bearer(other.Token)...); r.Status != 404 {
				t.Fatalf("boss@strasse.de accepts the invitation to boss@straße.de: %d %s", r.Status, r.Body)
			}
			right, _ := login(t, s, "BOSS@straße.de", "the right mailbox 1234") // any spelling of that mailbox
			if got := invitations(right.Token); fmt.Sprint(got) != fmt.Sprint([]int64{inv.ID}) {
				t.Fatalf("boss@xn--strae-oqa.de sees %v, want [%d]", got, inv.ID)
			}
		})
	}
}
