package e2e

// Issue 33, item 1: with the property service's credential (its static
// token, or its identity files) and accounts of their own, an attacker
// exchanged its own access token and asked the profiles call for any 500
// ids: every user's name and email. The user service now answers only from
// what it has seen itself: the people each of the attacker's accounts
// shares a property with. Over HTTP against the real services, on both
// engines, in token and in spiffe mode.

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
)

func TestAHarvestReadsOnlyWhoSharesAPropertyWithTheAttacker(t *testing.T) {
	for _, eng := range testenv.Engines(t) {
		for _, mode := range []string{"token", "spiffe"} {
			t.Run(eng.Name+"/"+mode, func(t *testing.T) {
				s := startSystemWith(t, eng, map[string]string{"INTERNAL_AUTH": mode})
				harvest(t, s)
			})
		}
	}
}

func harvest(t *testing.T, s *system) {
	// Victims: owners of properties of their own (one shared between two of
	// them), and people with none, all signed in since.
	var victims []int64
	var properties []int64
	for i := range 3 {
		owner, property, sess := ownerSeenInProperty(t, s, fmt.Sprintf("victim%d@example.com", i))
		victims, properties = append(victims, owner), append(properties, property)
		if i == 0 {
			partner := register(t, s, "partner@example.com", "correct horse battery staple")
			partnerSession, _ := login(t, s, "partner@example.com", "correct horse battery staple")
			share(t, s, sess.Token, partnerSession.Token, property, "partner@example.com", "member")
			login(t, s, "partner@example.com", "correct horse battery staple")
			victims = append(victims, partner)
		}
	}
	for i := range 2 {
		victims = append(victims, register(t, s, fmt.Sprintf("loner%d@example.com", i), "correct horse battery staple"))
	}
	// Carol shares her flat with the first attacker account: the product
	// shows each of them the other, and so may the profiles call.
	carol, flat, carolSession := ownerSeenInProperty(t, s, "carol@example.com")
	properties = append(properties, flat)

	// Three self-registered accounts, each owning a property of its own.
	type account struct {
		id, property int64
		token        string
	}
	var attackers []account
	for i := range 3 {
		id, property, sess := ownerSeenInProperty(t, s, fmt.Sprintf("mallory%d@example.com", i))
		if i == 0 {
			share(t, s, carolSession.Token, sess.Token, flat, "mallory0@example.com", "guest")
			sess, _ = login(t, s, "mallory0@example.com", "correct horse battery staple")
			// Carol signs in again after Mallory joined: a newcomer reads only
			// the members seen since it joined.
			time.Sleep(time.Second) // seen times are unix seconds
			login(t, s, "carol@example.com", "correct horse battery staple")
		}
		attackers = append(attackers, account{id, property, sess.Token})
		properties = append(properties, property)
	}
	everyone := slices.Concat(victims, []int64{carol})
	for _, a := range attackers {
		everyone = append(everyone, a.id)
	}
	for id := int64(1); id <= 40; id++ { // and ids of no account yet
		if !slices.Contains(everyone, id) {
			everyone = append(everyone, id)
		}
	}

	w := s.asPropertyService(t)
	read := map[int64]bool{}
	for _, a := range attackers {
		r := w.exchange(t, s, a.token, "getUserProfiles", w.audience)
		var issued struct {
			AccessToken string `json:"access_token"`
		}
		r.JSON(t, &issued)
		if r.Status != 200 {
			t.Fatalf("the attacker's own exchange: %d %s", r.Status, r.Body)
		}
		// Every property, for every subject the attacker might name: its
		// own, and the others' (the subject token says who it is).
		for _, subject := range everyone {
			for _, property := range properties {
				headers := append(w.credential(), "X-Subject-Token", issued.AccessToken)
				r := testenv.DoWith(t, w.client, "POST", profilesURL(t, s.userInternal, subject, property),
					map[string]any{"user_ids": everyone}, headers...)
				if r.Status >= 500 {
					t.Fatalf("the harvest: %d %s", r.Status, r.Body)
				}
				if r.Status != 200 {
					continue
				}
				var answer struct {
					Profiles []struct {
						UserID int64 `json:"user_id"`
					} `json:"profiles"`
				}
				r.JSON(t, &answer)
				for _, p := range answer.Profiles {
					read[p.UserID] = true
				}
			}
		}
	}
	for _, v := range victims {
		if read[v] {
			t.Errorf("the harvest read victim %d's profile (read: %v)", v, read)
		}
	}
	// What the product shows the attacker's accounts anyway.
	if !read[carol] || !read[attackers[0].id] {
		t.Errorf("the attacker's own lists: Carol read %v, itself %v", read[carol], read[attackers[0].id])
	}
	// Every attacker left WARN lines that name it as the subject.
	for _, a := range attackers {
		named := false
		for _, l := range slices.Concat(s.userLogs.Lines("profiles left out"), s.userLogs.Lines("profiles refused"),
			s.userLogs.Lines("internal call forbidden")) {
			if l["level"] == "WARN" && (l["subject"] == fmt.Sprint(a.id) || l["subject"] == float64(a.id)) {
				named = true
			}
		}
		if !named {
			t.Errorf("no WARN line names attacker %d as the subject", a.id)
		}
	}
	if strings.Contains(s.userLogs.String(), "victim0@example.com") {
		t.Error("a victim's email in the user service's log")
	}
}
