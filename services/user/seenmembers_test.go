package user_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/services/user/adapters"
	"github.com/jeeves4service/jeeves4service/services/user/app"
)

// Issue 33: the profiles call answers from what the user service has seen
// itself at logins and refreshes, and only while it can still be true: the
// subject's own membership for as long as an access token of that login
// lives (JWT_TTL, plus the tokens' leeway), the others' for as long as a
// session lives (REFRESH_TTL). A membership that ends is seen ended at the
// member's next login or refresh. The rule on the real adapters of both
// engines, on a clock the test moves.
func TestProfilesAnswerOnlyFromMembershipsSeenRecently(t *testing.T) {
	const accessTTL, refreshTTL = 10 * time.Minute, 24 * time.Hour
	for _, eng := range testenv.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			repo, conn, err := adapters.Open(ctx, eng.NewURL(t), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = conn.Close() })
			start := time.Unix(1_800_000_000, 0)
			clock := start
			svc := &app.Service{Repo: repo, Sessions: repo, AccessTTL: accessTTL, RefreshTTL: refreshTTL,
				Now: func() time.Time { return clock }}
			var ada, bob, eve int64
			for _, u := range []struct {
				email string
				id    *int64
			}{{"ada@example.com", &ada}, {"bob@example.com", &bob}, {"eve@example.com", &eve}} {
				rec, err := repo.Create(ctx, app.NewUser{Email: u.email, PasswordHash: "x", FirstName: "F", LastName: "L"}, start)
				if err != nil {
					t.Fatal(err)
				}
				*u.id = rec.ID
			}
			const cottage, flat = 7, 8
			see := func(user int64, at time.Time, properties ...int64) {
				t.Helper()
				if err := repo.SeeMemberships(ctx, user, properties, at); err != nil {
					t.Fatal(err)
				}
			}
			profiles := func(subject, property int64, ids ...int64) ([]int64, []int64, error) {
				t.Helper()
				got, err := svc.Profiles(ctx, subject, property, ids)
				var read []int64
				for _, p := range got.Profiles {
					read = append(read, p.UserID)
				}
				return read, got.LeftOut, err
			}
			see(ada, start, cottage)
			see(bob, start, cottage, flat)
			see(eve, start, flat)

			clock = start.Add(time.Minute)
			read, left, err := profiles(ada, cottage, ada, bob, eve, 999)
			if err != nil || !slices.Equal(read, []int64{ada, bob}) || !slices.Equal(left, []int64{eve, 999}) {
				t.Fatalf("Ada in her cottage: read %v, left out %v, %v", read, left, err)
			}
			if _, _, err := profiles(eve, cottage, ada, bob); !errors.Is(err, app.ErrNotSeenMember) {
				t.Fatalf("Eve, never seen in the cottage: %v", err)
			}
			if read, _, err := profiles(eve, flat, ada, bob, eve); err != nil || !slices.Equal(read, []int64{bob, eve}) {
				t.Fatalf("Eve in her flat: %v %v", read, err)
			}

			// The subject's own membership: within JWT_TTL and the leeway of
			// the last login or refresh, and not after.
			clock = start.Add(accessTTL + 10*time.Second)
			if _, _, err := profiles(ada, cottage, bob); err != nil {
				t.Fatalf("at the edge of JWT_TTL: %v", err)
			}
			clock = start.Add(accessTTL + 11*time.Second)
			if _, _, err := profiles(ada, cottage, bob); !errors.Is(err, app.ErrNotSeenMember) {
				t.Fatalf("past JWT_TTL since Ada was last seen: %v", err)
			}

			// Bob is removed from the cottage: seen so until his next refresh,
			// which replaces what was seen of him.
			see(ada, clock, cottage)
			if read, _, _ := profiles(ada, cottage, bob); !slices.Equal(read, []int64{bob}) {
				t.Fatalf("before Bob's next refresh: %v", read)
			}
			see(bob, clock, flat)
			if read, left, _ := profiles(ada, cottage, bob); len(read) != 0 || !slices.Equal(left, []int64{bob}) {
				t.Fatalf("after Bob's refresh without the cottage: read %v", read)
			}
			if _, _, err := profiles(bob, cottage, ada); !errors.Is(err, app.ErrNotSeenMember) {
				t.Fatalf("Bob, removed and refreshed, about the cottage: %v", err)
			}

			// Review of issue 33: someone who joins reads nobody who left
			// before they joined. Eve, in the flat since the start, signs in
			// again; Dan joins the flat later: Bob, last seen in the flat
			// before Dan joined, is no one Dan shared it with.
			var dan int64
			if rec, err := repo.Create(ctx, app.NewUser{Email: "dan@example.com", PasswordHash: "x", FirstName: "D",
				LastName: "L"}, start); err != nil {
				t.Fatal(err)
			} else {
				dan = rec.ID
			}
			see(bob, clock, flat) // Bob's last sign-in: still in the flat
			clock = clock.Add(time.Minute)
			see(dan, clock, flat)
			see(eve, clock, flat)
			if read, left, _ := profiles(dan, flat, bob, eve, dan); !slices.Equal(read, []int64{eve, dan}) ||
				!slices.Equal(left, []int64{bob}) {
				t.Fatalf("Dan, who joined the flat after Bob was last seen in it: read %v, left out %v", read, left)
			}
			// Eve's first sight of the flat survives her logins: she was in it
			// with Bob.
			if read, _, _ := profiles(eve, flat, bob); !slices.Equal(read, []int64{bob}) {
				t.Fatalf("Eve, in the flat since before Bob's last sign-in: %v", read)
			}

			// The others': within REFRESH_TTL (no session of theirs is older).
			clock = start.Add(refreshTTL + time.Hour)
			see(eve, clock, flat)
			if read, left, _ := profiles(eve, flat, bob, eve); !slices.Equal(read, []int64{eve}) || !slices.Equal(left, []int64{bob}) {
				t.Fatalf("Bob, not seen for longer than REFRESH_TTL: read %v", read)
			}
		})
	}
}

// Review of issue 33: a refresh spends its refresh token before it signs, so
// a failure to record the memberships it saw must not fail the refresh:
// that would end the session (the client's retry is a reuse). The refresh
// answers with its claims, a WARN line says what was not recorded, and the
// session lives on. A SQLite trigger makes the recording fail.
func TestAFailedRecordOfMembershipsEndsNoSession(t *testing.T) {
	path := filepath.Join(t.TempDir(), "u.db")
	e := start(t, "sqlite:"+path, newFake(t, goodAnswer).srv.URL, nil)
	e.register(t, "ada@example.com")
	r := testenv.Do(t, "POST", e.url+"/api/users/authenticate",
		map[string]string{"email": "ada@example.com", "password": "correct horse battery"})
	var sess struct {
		RefreshToken string `json:"refresh_token"`
	}
	r.JSON(t, &sess)
	conn, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Exec(`CREATE TRIGGER refuse_seen BEFORE INSERT ON seen_memberships
		BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`); err != nil {
		t.Fatal(err)
	}
	refreshed := testenv.Do(t, "POST", e.url+"/api/users/refresh", map[string]string{"refresh_token": sess.RefreshToken})
	var next struct {
		Token              string `json:"token"`
		RefreshToken       string `json:"refresh_token"`
		PropertiesIncluded bool   `json:"properties_included"`
	}
	refreshed.JSON(t, &next)
	if refreshed.Status != 200 || !next.PropertiesIncluded || next.RefreshToken == "" {
		t.Fatalf("refresh while the memberships cannot be recorded: %d %s", refreshed.Status, refreshed.Body)
	}
	if lines := e.logs.Lines("memberships seen at login not recorded"); len(lines) != 1 || lines[0]["level"] != "WARN" {
		t.Fatalf("WARN lines: %v", lines)
	}
	if me := testenv.Do(t, "GET", e.url+"/api/users/me", nil, testenv.Bearer(next.Token)...); me.Status != 200 {
		t.Fatalf("the session after the refresh: /me %d", me.Status)
	}
}

// The subject's window is the configured JWT_TTL, not the default: with a
// longer JWT_TTL a live access token comes from a login longer ago.
func TestTheSubjectsWindowIsJWTTTL(t *testing.T) {
	e := start(t, "sqlite:"+filepath.Join(t.TempDir(), "u.db"), newFake(t, goodAnswer).srv.URL, map[string]string{"JWT_TTL": "1h"})
	if e.svc.App.AccessTTL != time.Hour {
		t.Fatalf("AccessTTL %s, want JWT_TTL's 1h", e.svc.App.AccessTTL)
	}
}
