package property_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
)

// 200 concurrent requests: creates, member changes on one property, and the
// same room added over and over. The rows that remain are exactly the ones
// expected: every create once, one membership per user, one room, no 5xx.
func TestConcurrentWritesLeaveExactlyTheExpectedRows(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		const owner = 50
		shared := e.createProperty(t, owner, "Shared")
		ownerAuth := e.as(t, owner)
		for user := int64(2000); user < 2010; user++ { // the users whose level changes concurrently below
			e.addMember(t, owner, shared, user, "guest")
		}
		creators := make([][]string, 200) // tokens made here: e.as may fail the test, so never in a goroutine
		for i := 0; i < 200; i += 4 {
			creators[i] = e.as(t, int64(1000+i))
		}
		kinds := []string{"create", "member", "room", "remove"}
		var mu sync.Mutex
		counts := map[string]map[int]int{}
		testenv.Concurrently(t, 200, func(i int) error {
			var r testenv.Response
			var err error
			switch i % 4 {
			case 0: // 50 creates by 50 different users
				r, err = testenv.Try("POST", e.url("/api/properties/"), map[string]string{"name": fmt.Sprintf("Home %d", i)},
					creators[i]...)
			case 1: // 50 level changes of 10 members, each several times to different levels
				level := []string{"guest", "member"}[(i/4)%2]
				r, err = testenv.Try("PUT", e.url("/api/property/%d/members/%d", shared, 2000+(i/4)%10),
					map[string]string{"access_level": level}, ownerAuth...)
			case 2: // 50 attempts at the same room name
				r, err = testenv.Try("POST", e.url("/api/property/%d/rooms", shared), map[string]string{"name": "Kitchen"}, ownerAuth...)
			default: // 50 removals of users that may or may not be members yet
				r, err = testenv.Try("DELETE", e.url("/api/property/%d/members/%d", shared, 3000+i%5), nil, ownerAuth...)
			}
			mu.Lock()
			defer mu.Unlock()
			if counts[kinds[i%4]] == nil {
				counts[kinds[i%4]] = map[int]int{}
			}
			counts[kinds[i%4]][r.Status]++
			return err
		})
		if counts["create"][201] != 50 || counts["member"][200] != 50 || counts["room"][201] != 1 || counts["room"][409] != 49 ||
			counts["remove"][404] != 50 {
			t.Fatalf("outcomes: %v", counts)
		}
		var members struct {
			Members []struct {
				UserID int64 `json:"user_id"`
			} `json:"members"`
		}
		testenv.Do(t, "GET", e.url("/api/property/%d/members", shared), nil, ownerAuth...).JSON(t, &members)
		seen := map[int64]bool{}
		for _, m := range members.Members {
			if seen[m.UserID] {
				t.Fatalf("duplicate membership for user %d", m.UserID)
			}
			seen[m.UserID] = true
		}
		if len(members.Members) != 11 { // the owner and 10 granted users
			t.Fatalf("%d memberships, want 11", len(members.Members))
		}
		var rooms struct {
			TotalCount int `json:"total_count"`
		}
		testenv.Do(t, "GET", e.url("/api/property/%d/rooms", shared), nil, ownerAuth...).JSON(t, &rooms)
		var all struct {
			TotalCount int `json:"total_count"`
		}
		testenv.Do(t, "GET", e.url("/api/properties/"), nil, testenv.Bearer(e.issuer.Token(t, 1, true))...).JSON(t, &all)
		if rooms.TotalCount != 1 || all.TotalCount != 51 {
			t.Fatalf("%d rooms, %d properties; want 1 and 51", rooms.TotalCount, all.TotalCount)
		}
	})
}

// Two owners demoting each other at the same moment: one wins, the other gets
// 409, and the property keeps an owner.
func TestConcurrentDemotionsKeepAnOwner(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		const a, b = 60, 61
		id := e.createProperty(t, a, "Contested")
		e.addMember(t, a, id, b, "owner")
		auth := map[int64][]string{a: e.as(t, a), b: e.as(t, b)}
		for round := 0; round < 10; round++ {
			statuses := make([]int, 2)
			pairs := [][2]int64{{a, b}, {b, a}}
			testenv.Concurrently(t, 2, func(i int) error {
				r, err := testenv.Try("PUT", e.url("/api/property/%d/members/%d", id, pairs[i][1]),
					map[string]string{"access_level": "member"}, auth[pairs[i][0]]...)
				statuses[i] = r.Status
				return err
			})
			var members struct {
				Members []struct {
					UserID      int64  `json:"user_id"`
					AccessLevel string `json:"access_level"`
				} `json:"members"`
			}
			owners := 0
			for _, who := range []int64{a, b} {
				r := testenv.Do(t, "GET", e.url("/api/property/%d/members", id), nil, e.as(t, who)...)
				if r.Status == 200 {
					r.JSON(t, &members)
					break
				}
			}
			var owner int64
			for _, m := range members.Members {
				if m.AccessLevel == "owner" {
					owners++
					owner = m.UserID
				}
			}
			if owners != 1 {
				t.Fatalf("round %d: statuses %v left %d owners", round, statuses, owners)
			}
			// Re-promote the demoted one for the next round.
			other := a + b - owner
			if r := testenv.Do(t, "PUT", e.url("/api/property/%d/members/%d", id, other),
				map[string]string{"access_level": "owner"}, e.as(t, owner)...); r.Status != 200 {
				t.Fatalf("round %d: re-promote: %d", round, r.Status)
			}
		}
	})
}

// Issue 17, attack 6: two PATCHes of one property at the same moment, one
// changing only the name, the other only the address, used to lose one change
// (read, merge in Go, write both columns). Each update now sets only the
// columns it was given, in one statement.
func TestConcurrentDisjointPatchesLoseNothing(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		const owner = 70
		id := e.createProperty(t, owner, "Start")
		auth := e.as(t, owner)
		url := e.url("/api/property/%d", id)
		for round := 0; round < 200; round++ {
			name, address := fmt.Sprintf("Name %d", round), fmt.Sprintf("%d Harbour Road", round)
			patches := []map[string]string{{"name": name}, {"address": address}}
			testenv.Concurrently(t, 2, func(i int) error {
				r, err := testenv.Try("PATCH", url, patches[i], auth...)
				if err == nil && r.Status != 200 {
					err = fmt.Errorf("PATCH %v: %d %s", patches[i], r.Status, r.Body)
				}
				return err
			})
			var got struct{ Name, Address string }
			testenv.Do(t, "GET", url, nil, auth...).JSON(t, &got)
			if got.Name != name || got.Address != address {
				t.Fatalf("round %d: got %q / %q, want %q / %q: an update was lost", round, got.Name, got.Address, name, address)
			}
		}
	})
}
