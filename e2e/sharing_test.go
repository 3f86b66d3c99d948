package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
)

type memberList struct {
	NamesIncluded bool `json:"names_included"`
	Members       []struct {
		UserID      int64  `json:"user_id"`
		AccessLevel string `json:"access_level"`
		DisplayName string `json:"display_name"`
		Email       string `json:"email"`
	} `json:"members"`
}

// Issue 28, done when: an owner invites ada@example.com before Ada
// registers; Ada registers, logs in, sees the invitation, accepts; her next
// token carries the property; the owner's member list shows her by name. The
// names come from the user service's internal listener, called by the
// property service with its own credential.
func TestSharingByEmailEndToEnd(t *testing.T) {
	for _, eng := range testenv.Engines(t) {
		for _, mode := range []string{"token", "spiffe"} {
			t.Run(eng.Name+"/"+mode, func(t *testing.T) {
				s := startSystemWith(t, eng, map[string]string{"INTERNAL_AUTH": mode})
				sharingStory(t, s)
			})
		}
	}
}

func sharingStory(t *testing.T, s *system) {
	t.Helper()
	ownerID := register(t, s, "owner@example.com", "owner password 1234")
	owner, _ := login(t, s, "owner@example.com", "owner password 1234")
	created := testenv.Do(t, "POST", s.property+"/api/properties/", map[string]string{"name": "Seaside cottage"},
		testenv.Bearer(owner.Token)...)
	var p struct{ ID int64 }
	created.JSON(t, &p)
	// The owner's next token claims the cottage, and the user service has
	// seen the owner in it: what the profiles call answers from.
	owner = mustRefresh(t, s, owner.RefreshToken)
	r := testenv.Do(t, "POST", fmt.Sprintf("%s/api/property/%d/invitations", s.property, p.ID),
		map[string]string{"email": "Ada@Example.com", "access_level": "member"}, testenv.Bearer(owner.Token)...)
	if r.Status != 201 {
		t.Fatalf("invite before Ada registers: %d %s", r.Status, r.Body)
	}

	adaID := register(t, s, "ada@example.com", "correct horse battery staple")
	ada, _ := login(t, s, "ada@example.com", "correct horse battery staple")
	var mine struct {
		Invitations []struct {
			ID            int64  `json:"id"`
			PropertyName  string `json:"property_name"`
			InvitedByName string `json:"invited_by_name"`
		} `json:"invitations"`
		NamesIncluded bool `json:"names_included"`
	}
	testenv.Do(t, "GET", s.property+"/api/invitations", nil, testenv.Bearer(ada.Token)...).JSON(t, &mine)
	// No inviter's name: the user service shows a person's name only to
	// someone it has seen share a property with them (issue 33).
	if len(mine.Invitations) != 1 || mine.Invitations[0].PropertyName != "Seaside cottage" || mine.NamesIncluded ||
		mine.Invitations[0].InvitedByName != "" {
		t.Fatalf("Ada's invitations: %+v", mine)
	}
	if r := testenv.Do(t, "POST", fmt.Sprintf("%s/api/invitations/%d/accept", s.property, mine.Invitations[0].ID),
		map[string]string{"secret": s.mail.Secret(t, mine.Invitations[0].ID)}, testenv.Bearer(ada.Token)...); r.Status != 200 {
		t.Fatalf("accept: %d %s", r.Status, r.Body)
	}
	next := mustRefresh(t, s, ada.RefreshToken)
	if ids := claimedProperties(t, s, next.Token); fmt.Sprint(ids) != fmt.Sprint([]int64{p.ID}) {
		t.Fatalf("Ada's next token claims %v, want [%d]", ids, p.ID)
	}
	var members memberList
	testenv.Do(t, "GET", fmt.Sprintf("%s/api/property/%d/members", s.property, p.ID), nil, testenv.Bearer(owner.Token)...).
		JSON(t, &members)
	found := false
	for _, m := range members.Members {
		if m.UserID == adaID {
			found = m.DisplayName == "Ada Lovelace" && m.Email == "ada@example.com" && m.AccessLevel == "member"
		}
	}
	if !members.NamesIncluded || !found || len(members.Members) != 2 {
		t.Fatalf("the owner's member list: %+v", members)
	}
	// The profiles call's audit line at the user service names its caller,
	// and the owner it was made for (issue 29).
	if lines := s.userLogs.Lines("internal call"); len(lines) == 0 || lines[len(lines)-1]["caller"] != "property-service" ||
		lines[len(lines)-1]["user_id"] != fmt.Sprint(ownerID) {
		t.Fatalf("user service audit lines: %v", lines)
	}
	// The owner's subject token came from one exchange of the owner's access
	// token, kept for the next list.
	testenv.Do(t, "GET", fmt.Sprintf("%s/api/property/%d/members", s.property, p.ID), nil, testenv.Bearer(owner.Token)...)
	exchanges, calls := 0, 0
	for _, l := range s.userLogs.Lines("internal call") {
		if l["user_id"] == fmt.Sprint(ownerID) {
			switch l["operation"] {
			case "exchangeSubjectToken":
				exchanges++
			case "getUserProfiles":
				calls++
			}
		}
	}
	if exchanges != 1 || calls != 2 {
		t.Fatalf("the owner's lists: %d exchanges, %d profiles calls; want 1 and 2", exchanges, calls)
	}
}

// With the user service stopped, the member list still answers within
// 2.5 s, complete, without names and saying so; the property service's
// breaker opens, and its log and metrics name the user service (issue 33).
func TestMembersWithoutTheUserService(t *testing.T) {
	eng := testenv.Engines(t)[0]
	s := startSystemWith(t, eng, map[string]string{"USER_BREAKER_FAILURES": "2"})
	register(t, s, "owner@example.com", "owner password 1234")
	owner, _ := login(t, s, "owner@example.com", "owner password 1234")
	var p struct{ ID int64 }
	testenv.Do(t, "POST", s.property+"/api/properties/", map[string]string{"name": "Cottage"}, testenv.Bearer(owner.Token)...).JSON(t, &p)
	s.stopUser()
	for i := 0; i < 3; i++ { // the first calls time out or are refused, later ones meet the open breaker
		start := time.Now()
		r := testenv.Do(t, "GET", fmt.Sprintf("%s/api/property/%d/members", s.property, p.ID), nil, testenv.Bearer(owner.Token)...)
		took := time.Since(start)
		var members memberList
		r.JSON(t, &members)
		if r.Status != 200 || members.NamesIncluded || len(members.Members) != 1 || members.Members[0].DisplayName != "" ||
			took > 2500*time.Millisecond {
			t.Fatalf("call %d without the user service: %d in %s: %+v", i, r.Status, took, members)
		}
	}
	m := testenv.Scrape(t, s.propertyAdmin+"/metrics")
	for series, want := range map[string]string{
		`upstream_circuit_state{service="property-service",upstream="user-service"}`:         "2",
		`upstream_circuit_opens_total{service="property-service",upstream="user-service"}`:   "1",
		`upstream_circuit_refused_total{service="property-service",upstream="user-service"}`: "1",
		`user_client_calls_total{outcome="error",service="property-service"}`:                "2",
		`user_client_calls_total{outcome="circuit_open",service="property-service"}`:         "1",
	} {
		if m[series] != want {
			t.Errorf("property service %s = %q, want %s", series, m[series], want)
		}
	}
	if opened := s.propertyLogs.Lines("circuit breaker opened: calls to the upstream are refused without trying"); len(opened) != 1 ||
		opened[0]["upstream"] != "user-service" || opened[0]["level"] != "WARN" {
		t.Fatalf("the property service's log of the opened breaker: %v", opened)
	}
}
