package property_test

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/gen/propertyapi"
	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/services/common/database"
	"github.com/jeeves4service/jeeves4service/services/common/ratelimit"
	"github.com/jeeves4service/jeeves4service/services/property"
)

func emailOf(userID int64) string { return fmt.Sprintf("user%d@example.com", userID) }

// invite has owner invite email to property id and returns the invitation's id.
func (e *env) invite(t *testing.T, owner, id int64, email, level string) int64 {
	t.Helper()
	r := testenv.Do(t, "POST", e.url("/api/property/%d/invitations", id), map[string]string{"email": email, "access_level": level},
		e.as(t, owner)...)
	if r.Status != 201 {
		t.Fatalf("invite %s: %d %s", email, r.Status, r.Body)
	}
	var inv struct{ ID int64 }
	r.JSON(t, &inv)
	return inv.ID
}

// addMember makes user a member of property id the only way there is: owner
// invites the user's email, the user accepts.
func (e *env) addMember(t *testing.T, owner, id, user int64, level string) {
	t.Helper()
	inv := e.invite(t, owner, id, emailOf(user), level)
	if r := e.accept(t, inv, user); r.Status != 200 {
		t.Fatalf("accept: %d %s", r.Status, r.Body)
	}
}

// accept has user accept invitation inv with the secret its mail carried.
func (e *env) accept(t *testing.T, inv, user int64) testenv.Response {
	t.Helper()
	return testenv.Do(t, "POST", e.url("/api/invitations/%d/accept", inv), e.secretOf(t, inv), e.as(t, user)...)
}

// secretOf is the accept body with the secret of invitation inv's last mail.
func (e *env) secretOf(t *testing.T, inv int64) map[string]string {
	t.Helper()
	return map[string]string{"secret": e.mail.Secret(t, inv)}
}

// claimsOf is how many properties the internal claims call gives user.
func (e *env) claimsOf(t *testing.T, user int64) int {
	t.Helper()
	var claims struct {
		TotalCount int `json:"total_count"`
	}
	testenv.Do(t, "GET", userPropertiesURL(e, fmt.Sprint(user)), nil, e.claimsCall(t, goodToken, user)...).JSON(t, &claims)
	return claims.TotalCount
}

// noInvitationBudgets is for tests that fill a property.
func noInvitationBudgets(c *property.Config) {
	c.InvitationsPerOwner, c.InvitationsPerProperty, c.InvitationsPerInvitee = ratelimit.Off, ratelimit.Off, ratelimit.Off
}

// eachWith is each with the config adjusted.
func eachWith(t *testing.T, adjust func(*property.Config), fn func(t *testing.T, e *env)) {
	for _, eng := range testenv.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) { fn(t, startWith(t, eng.NewURL(t), adjust)) })
	}
}

// fillMembers adds n guests (users 50000 on) to property id in the database
// itself: a test of the bound that should not have to send 1,000 requests.
func (e *env) fillMembers(t *testing.T, id int64, n int) {
	t.Helper()
	engine, dsn, err := database.ParseURL(e.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	driver, insert := "sqlite", "INSERT INTO property_members (property_id, user_id, access_level, created_at) VALUES (?, ?, 'guest', 0)"
	if engine == database.Postgres {
		driver, insert = "pgx", "INSERT INTO property_members (property_id, user_id, access_level, created_at) VALUES ($1, $2, 'guest', 0)"
	}
	conn, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := 0; i < n; i++ {
		if _, err := conn.Exec(insert, id, 50000+i); err != nil {
			t.Fatalf("fill members: %v", err)
		}
	}
}

type invitationList struct {
	Invitations []struct {
		ID           int64  `json:"id"`
		PropertyID   int64  `json:"property_id"`
		PropertyName string `json:"property_name"`
		Email        string `json:"email"`
		AccessLevel  string `json:"access_level"`
		InvitedBy    int64  `json:"invited_by"`
		Sent         bool   `json:"sent"`
	} `json:"invitations"`
	TotalCount int `json:"total_count"`
}

func TestInvitationAcceptedMakesTheInviteeAMember(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		const owner, ada, bob, stranger = 1, 2, 3, 4
		id := e.createProperty(t, owner, "Cottage")

		// Stored under the canonical form: Ada's token carries user2@example.com.
		r := testenv.Do(t, "POST", e.url("/api/property/%d/invitations", id),
			map[string]any{"email": "USER2@Example.COM", "access_level": "member", "expires_in_days": 3}, e.as(t, owner)...)
		if r.Status != 201 {
			t.Fatalf("invite: %d %s", r.Status, r.Body)
		}
		var inv struct {
			ID        int64     `json:"id"`
			Email     string    `json:"email"`
			ExpiresAt time.Time `json:"expires_at"`
		}
		r.JSON(t, &inv)
		if inv.Email != emailOf(ada) || time.Until(inv.ExpiresAt) < 71*time.Hour || time.Until(inv.ExpiresAt) > 73*time.Hour {
			t.Fatalf("invitation: %+v", inv)
		}
		if e.claimsOf(t, ada) != 0 {
			t.Fatal("an invitation made Ada a member before she accepted")
		}

		var list invitationList
		testenv.Do(t, "GET", e.url("/api/property/%d/invitations", id), nil, e.as(t, owner)...).JSON(t, &list)
		if list.TotalCount != 1 || list.Invitations[0].InvitedBy != owner || list.Invitations[0].PropertyName != "Cottage" {
			t.Fatalf("owner's list: %+v", list)
		}
		testenv.Do(t, "GET", e.url("/api/invitations"), nil, e.as(t, stranger)...).JSON(t, &list)
		if list.TotalCount != 0 {
			t.Fatalf("a stranger sees Ada's invitation: %+v", list)
		}
		// Nobody but Ada may accept or decline it.
		for _, method := range []string{"POST", "DELETE"} {
			path := map[string]string{"POST": "/api/invitations/%d/accept", "DELETE": "/api/invitations/%d"}[method]
			body := map[string]map[string]string{"POST": e.secretOf(t, inv.ID)}[method] // the right secret, another account
			if r := testenv.Do(t, method, e.url(path, inv.ID), body, e.as(t, stranger)...); r.Status != 404 {
				t.Fatalf("stranger %s: %d", method, r.Status)
			}
		}
		testenv.Do(t, "GET", e.url("/api/invitations"), nil, e.as(t, ada)...).JSON(t, &list)
		if list.TotalCount != 1 || list.Invitations[0].ID != inv.ID || list.Invitations[0].AccessLevel != "member" {
			t.Fatalf("Ada's list: %+v", list)
		}
		r = e.accept(t, inv.ID, ada)
		var m struct {
			UserID      int64  `json:"user_id"`
			AccessLevel string `json:"access_level"`
		}
		if r.Status != 200 {
			t.Fatalf("accept: %d %s", r.Status, r.Body)
		}
		r.JSON(t, &m)
		if m.UserID != ada || m.AccessLevel != "member" || e.claimsOf(t, ada) != 1 {
			t.Fatalf("after accepting: %+v, claims %d", m, e.claimsOf(t, ada))
		}
		// The invitation is spent.
		if r := e.accept(t, inv.ID, ada); r.Status != 404 {
			t.Fatalf("accept twice: %d", r.Status)
		}

		// Bob declines; the owner revokes another; neither adds anyone.
		bobs := e.invite(t, owner, id, emailOf(bob), "guest")
		if r := testenv.Do(t, "DELETE", e.url("/api/invitations/%d", bobs), nil, e.as(t, bob)...); r.Status != 204 {
			t.Fatalf("decline: %d %s", r.Status, r.Body)
		}
		other := e.invite(t, owner, id, "someone@example.org", "guest")
		if r := testenv.Do(t, "DELETE", e.url("/api/property/%d/invitations/%d", id, other), nil, e.as(t, ada)...); r.Status != 403 {
			t.Fatalf("a member revokes: %d", r.Status)
		}
		if r := testenv.Do(t, "DELETE", e.url("/api/property/%d/invitations/%d", id, other), nil, e.as(t, owner)...); r.Status != 204 {
			t.Fatalf("revoke: %d %s", r.Status, r.Body)
		}
		if r := testenv.Do(t, "DELETE", e.url("/api/property/%d/invitations/%d", id, other), nil, e.as(t, owner)...); r.Status != 404 {
			t.Fatalf("revoke twice: %d", r.Status)
		}
		if e.claimsOf(t, bob) != 0 {
			t.Fatal("a declined invitation made Bob a member")
		}
		// Members neither invite nor see the invitations; strangers cannot tell the property exists.
		for who, want := range map[int64]int{ada: 403, stranger: 404} {
			if r := testenv.Do(t, "POST", e.url("/api/property/%d/invitations", id),
				map[string]string{"email": "x@example.com", "access_level": "owner"}, e.as(t, who)...); r.Status != want {
				t.Fatalf("user %d invites: %d, want %d", who, r.Status, want)
			}
			if r := testenv.Do(t, "GET", e.url("/api/property/%d/invitations", id), nil, e.as(t, who)...); r.Status != want {
				t.Fatalf("user %d lists: %d, want %d", who, r.Status, want)
			}
		}
		// A bad address is a 400 naming email.
		r = testenv.Do(t, "POST", e.url("/api/property/%d/invitations", id),
			map[string]string{"email": "Eve <eve@example.com>", "access_level": "guest"}, e.as(t, owner)...)
		if r.Status != 400 || !strings.Contains(string(r.Body), `"email"`) {
			t.Fatalf("bad email: %d %s", r.Status, r.Body)
		}
	})
}

// PUT .../members/{user_id} changes an existing member's level; it adds nobody.
func TestPutMemberOnlyChangesAMember(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		const owner, friend, victim = 1, 2, 3
		id := e.createProperty(t, owner, "Cottage")
		if r := testenv.Do(t, "PUT", e.url("/api/property/%d/members/%d", id, victim), map[string]string{"access_level": "guest"},
			e.as(t, owner)...); r.Status != 404 {
			t.Fatalf("PUT of a non-member: %d %s", r.Status, r.Body)
		}
		e.addMember(t, owner, id, friend, "guest")
		if r := testenv.Do(t, "PUT", e.url("/api/property/%d/members/%d", id, friend), map[string]string{"access_level": "member"},
			e.as(t, owner)...); r.Status != 200 {
			t.Fatalf("PUT of a member: %d %s", r.Status, r.Body)
		}
		if e.claimsOf(t, victim) != 0 {
			t.Fatal("PUT added a member")
		}
	})
}

// The invariant: no request creates a membership for anyone but its caller.
// Every public operation of the property service is sent by an attacker (an
// owner of properties of their own) with the victim's id and email wherever
// the operation takes an id or an email; the victim must be a member of
// nothing after.
func TestNoRequestMakesAnotherUserAMember(t *testing.T) {
	eachWith(t, noInvitationBudgets, func(t *testing.T, e *env) {
		const attacker, victim = 66, 77
		spec, err := propertyapi.GetSwagger()
		if err != nil {
			t.Fatal(err)
		}
		ops := 0
		for path, item := range spec.Paths.Map() {
			for method, op := range item.Operations() {
				ops++
				// A property and an invitation the attacker may act on, fresh for each operation.
				own := e.createProperty(t, attacker, "Attacker's")
				inv := e.invite(t, attacker, own, emailOf(victim), "owner")
				url := strings.NewReplacer("{id}", fmt.Sprint(own), "{user_id}", fmt.Sprint(victim),
					"{invitation_id}", fmt.Sprint(inv)).Replace(path)
				// Every field the body takes, the victim's email and the highest level where it fits.
				var body map[string]any
				if op.RequestBody != nil {
					// The secret is the invitation's own (the mail went to the
					// victim; the strongest attacker has it anyway).
					values := map[string]any{"email": emailOf(victim), "access_level": "owner", "secret": e.mail.Secret(t, inv)}
					body = map[string]any{}
					for name := range op.RequestBody.Value.Content.Get("application/json").Schema.Value.Properties {
						if v, ok := values[name]; ok {
							body[name] = v
						} else {
							body[name] = "x"
						}
					}
					if _, ok := body["expires_in_days"]; ok {
						body["expires_in_days"] = 1
					}
				}
				if r := testenv.DoUnchecked(t, method, e.public+url, body, e.as(t, attacker)...); r.Status == 400 {
					t.Fatalf("%s %s: the attack was refused as malformed, so it tried nothing: %s", method, path, r.Body)
				}
				if n := e.claimsOf(t, victim); n != 0 {
					t.Fatalf("%s %s by user %d made user %d a member of %d properties", method, path, attacker, victim, n)
				}
			}
		}
		if ops < 15 {
			t.Fatalf("only %d operations tried", ops)
		}
	})
}

// The red team's bloat attack: an attacker adds a victim to 40 properties, to
// make the victim's token too big to log in with. Now nobody can be added:
// PUT finds no member, and invitations only wait for the victim (and run into
// the attacker's budgets).
func TestBloatAttackAddsNobody(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		const attacker, victim = 66, 77
		statuses := map[string]map[int]int{"put": {}, "invite": {}}
		for i := 0; i < 40; i++ {
			id := e.createProperty(t, attacker, fmt.Sprintf("Bloat %d %s", i, strings.Repeat("x", 150)))
			r := testenv.Do(t, "PUT", e.url("/api/property/%d/members/%d", id, victim), map[string]string{"access_level": "guest"},
				e.as(t, attacker)...)
			statuses["put"][r.Status]++
			r = testenv.Do(t, "POST", e.url("/api/property/%d/invitations", id), map[string]string{"email": emailOf(victim),
				"access_level": "guest"}, e.as(t, attacker)...)
			statuses["invite"][r.Status]++
		}
		if n := e.claimsOf(t, victim); n != 0 {
			t.Fatalf("the victim is a member of %d properties (statuses %v)", n, statuses)
		}
		// The tighter of the attacker's budgets governs: per owner, or per owner and invited address.
		sent := min(property.DefaultInvitationsPerOwner.Count, property.DefaultInvitationsPerInvitee.Count)
		if statuses["put"][404] != 40 || statuses["invite"][201] != sent || statuses["invite"][429] != 40-sent {
			t.Fatalf("statuses: %v", statuses)
		}
	})
}

// Budgets: per owner and per property per day, 429 with the spent budget's
// RateLimit fields; a stranger cannot spend a property's budget.
func TestInvitationBudgets(t *testing.T) {
	e := startWith(t, "sqlite:"+filepath.Join(t.TempDir(), "p.db"), func(c *property.Config) {
		c.InvitationsPerOwner = ratelimit.Budget{Count: 5, Window: 24 * time.Hour}
		c.InvitationsPerProperty = ratelimit.Budget{Count: 3, Window: 24 * time.Hour}
	})
	const a, b, stranger = 1, 2, 3
	id := e.createProperty(t, a, "Shared")
	e.addMember(t, a, id, b, "owner") // a's first
	for i := 0; i < 10; i++ {         // a stranger's attempts spend nothing
		testenv.Do(t, "POST", e.url("/api/property/%d/invitations", id), map[string]string{"email": "x@example.com", "access_level": "guest"},
			e.as(t, stranger)...)
	}
	e.invite(t, a, id, "one@example.com", "guest")
	e.invite(t, b, id, "two@example.com", "guest")
	r := testenv.Do(t, "POST", e.url("/api/property/%d/invitations", id), map[string]string{"email": "three@example.com",
		"access_level": "guest"}, e.as(t, b)...)
	if r.Status != 429 || r.Header.Get("Retry-After") == "" || r.Header.Get("RateLimit-Policy") != `"invitations-property";q=3;w=86400` ||
		!strings.HasPrefix(r.Header.Get("RateLimit"), `"invitations-property";r=0;`) {
		t.Fatalf("past the property's budget: %d %q %q", r.Status, r.Header.Get("RateLimit-Policy"), r.Header.Get("RateLimit"))
	}
	// a's own budget: 5 per day, 2 spent; on other properties of a's.
	other := e.createProperty(t, a, "Other")
	for i := 0; i < 3; i++ {
		e.invite(t, a, other, fmt.Sprintf("p%d@example.com", i), "guest")
	}
	r = testenv.Do(t, "POST", e.url("/api/property/%d/invitations", other), map[string]string{"email": "p9@example.com",
		"access_level": "guest"}, e.as(t, a)...)
	if r.Status != 429 || r.Header.Get("RateLimit-Policy") != `"invitations-owner";q=5;w=86400` {
		t.Fatalf("past the owner's budget: %d %q", r.Status, r.Header.Get("RateLimit-Policy"))
	}
}

// Bounds: a property has at most 100 pending invitations and 500 members
// (409 past either, also for an invitation accepted when it is full).
func TestInvitationBounds(t *testing.T) {
	eachWith(t, noInvitationBudgets, func(t *testing.T, e *env) {
		const owner = 1
		id := e.createProperty(t, owner, "Full")
		pending := make([]int64, 0, 100)
		for i := 0; i < 100; i++ {
			pending = append(pending, e.invite(t, owner, id, emailOf(int64(1000+i)), "guest"))
		}
		r := testenv.Do(t, "POST", e.url("/api/property/%d/invitations", id), map[string]string{"email": "late@example.com",
			"access_level": "guest"}, e.as(t, owner)...)
		if r.Status != 409 {
			t.Fatalf("invitation 101: %d %s", r.Status, r.Body)
		}
		// Re-inviting a pending address replaces its invitation: not one more.
		e.invite(t, owner, id, emailOf(1000), "member")
		for i := 0; i < 99; i++ {
			if r := e.accept(t, pending[i], int64(1000+i)); r.Status != 200 {
				t.Fatalf("accept %d: %d %s", i, r.Status, r.Body)
			}
		}
		e.fillMembers(t, id, 500-100)
		r = e.accept(t, pending[99], 1099)
		if r.Status != 409 {
			t.Fatalf("accept into a full property: %d %s", r.Status, r.Body)
		}
	})
}
