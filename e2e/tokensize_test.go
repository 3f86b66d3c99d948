package e2e

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/internal/testkit/notrun"
	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/tools/procs"
)

// defaultTokenBudget is JWT_MAX_BYTES's default: no access token is longer.
const defaultTokenBudget = 4096

// Issue 25, item 2: an owner can add any user to a property, so an attacker
// made 40 properties named with 200 '<' each (1,200 bytes apiece in the JWT
// once encoding/json escaped them) and added the victim to every one. The
// victim's token grew from 497 bytes to 67,758: their /me and property list
// answered 431, refresh issued the same token again, and through the shipped
// HAProxy configuration their login itself answered 502. The token now has
// a byte budget the claim list is cut to (properties_truncated), and the
// victim logs in, reads /me and lists their properties, directly and
// through HAProxy.
func TestBloatedPropertyNamesCannotLockAUserOut(t *testing.T) {
	for _, eng := range testenv.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			direct, proxied := startBehindHAProxy(t, eng)
			bloat(t, direct)
			t.Run("direct", func(t *testing.T) { victimGetsIn(t, direct) })
			t.Run("haproxy", func(t *testing.T) {
				if proxied == nil {
					notrun.Skip(t, notrun.HAProxy)
				}
				victimGetsIn(t, proxied)
			})
		})
	}
}

const (
	bloatVictim   = "victim@example.com"
	bloatPassword = "victim password 1234"
)

// bloat is the attack: 40 properties named with 200 '<' each (the most the
// contract allows in characters), the victim a guest of every one. Since
// issue 28 nobody can add another user (PUT .../members/{user_id} changes
// only a member's level, and an invitation waits for its addressee): the
// attacker's PUT must find no member. The byte budget still matters for a
// user who is in 40 such properties of their own accord, so the victim here
// creates them.
func bloat(t *testing.T, s *system) {
	t.Helper()
	register(t, s, "attacker@example.com", "attacker password 1234")
	victim := register(t, s, bloatVictim, bloatPassword)
	attacker, _ := login(t, s, "attacker@example.com", "attacker password 1234")
	own, _ := login(t, s, bloatVictim, bloatPassword)
	for i := 0; i < 40; i++ {
		resp := testenv.Do(t, "POST", s.property+"/api/properties/", map[string]string{"name": strings.Repeat("<", 200)},
			testenv.Bearer(attacker.Token)...)
		if resp.Status != 201 {
			t.Fatalf("create bloated property %d: %d %s", i, resp.Status, resp.Body)
		}
		var p struct{ ID int64 }
		resp.JSON(t, &p)
		member := testenv.Do(t, "PUT", fmt.Sprintf("%s/api/property/%d/members/%d", s.property, p.ID, victim),
			map[string]string{"access_level": "guest"}, testenv.Bearer(attacker.Token)...)
		if member.Status != 404 {
			t.Fatalf("the attacker added the victim to property %d: %d %s", p.ID, member.Status, member.Body)
		}
		if resp := testenv.Do(t, "POST", s.property+"/api/properties/", map[string]string{"name": strings.Repeat("<", 200)},
			testenv.Bearer(own.Token)...); resp.Status != 201 {
			t.Fatalf("the victim's own bloated property %d: %d %s", i, resp.Status, resp.Body)
		}
	}
}

// victimGetsIn: login, /me, the property list and a refresh all work for the
// victim, and every access token is within the budget, cut and saying so.
func victimGetsIn(t *testing.T, s *system) {
	t.Helper()
	resp := testenv.DoUnchecked(t, "POST", s.user+"/api/users/authenticate",
		map[string]string{"email": bloatVictim, "password": bloatPassword})
	if resp.Status != 200 {
		t.Fatalf("the victim's login: %d (%d bytes of Authorization header)", resp.Status, len(resp.Header.Get("Authorization")))
	}
	var sess session
	resp.JSON(t, &sess)
	if got := testenv.DoUnchecked(t, "GET", s.user+"/api/users/me", nil, testenv.Bearer(sess.Token)...); got.Status != 200 {
		t.Fatalf("the victim's /me with a %d-byte token: %d", len(sess.Token), got.Status)
	}
	list := testenv.DoUnchecked(t, "GET", s.property+"/api/properties/", nil, testenv.Bearer(sess.Token)...)
	if list.Status != 200 {
		t.Fatalf("the victim's property list with a %d-byte token: %d", len(sess.Token), list.Status)
	}
	var page struct {
		Properties []struct{ Name string } `json:"properties"`
	}
	list.JSON(t, &page)
	if len(page.Properties) != 40 {
		t.Fatalf("the victim's property list has %d properties, want all 40 (the token's cut is not the truth)", len(page.Properties))
	}
	next, got := refresh(t, s, sess.RefreshToken)
	if got.Status != 200 {
		t.Fatalf("the victim's refresh: %d", got.Status)
	}
	checkBudget(t, s, "login", sess.Token)
	checkBudget(t, s, "refresh", next.Token)
}

func checkBudget(t *testing.T, s *system, what, token string) {
	t.Helper()
	if len(token) > defaultTokenBudget {
		t.Fatalf("%s: the token is %d bytes, over the %d-byte budget", what, len(token), defaultTokenBudget)
	}
	c := verifyWithJWKS(t, s, token)
	if !c.PropertiesIncluded || !c.PropertiesTruncated || len(c.Properties) == 0 || len(c.Properties) >= 40 {
		t.Fatalf("%s: included %v, truncated %v, %d of 40 claims: want some, cut and saying so",
			what, c.PropertiesIncluded, c.PropertiesTruncated, len(c.Properties))
	}
	for _, p := range c.Properties {
		if p.PropertyName != strings.Repeat("<", 200) {
			t.Fatalf("%s: a claim's name came back as %q", what, p.PropertyName)
		}
	}
	t.Logf("%s: %d-byte token with %d of 40 property claims", what, len(token), len(c.Properties))
}

// startBehindHAProxy starts both services and, when haproxy is installed
// (it must be with CI=true), HAProxy in front of every listener with the
// shipped deploy/haproxy/haproxy.cfg (each backend's two servers are the one
// replica). It returns the system addressed directly, and addressed through
// HAProxy (nil without haproxy). The user service reaches the internal
// listener through HAProxy's internal frontend when there is one.
func startBehindHAProxy(t *testing.T, eng testenv.Engine) (direct, proxied *system) {
	t.Helper()
	haproxy, err := exec.LookPath("haproxy")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("haproxy is not installed but CI=true: the HAProxy part of this test must run in CI")
		}
		t.Log("haproxy is not installed: only the direct part runs")
		s := startSystem(t, eng)
		return s, nil
	}
	front, err := procs.FreeAddrs(4)
	if err != nil {
		t.Fatal(err)
	}
	frontends := map[string]string{"user": front[0], "property": front[1], "internal": front[2]}
	backends := map[string]string{}
	s := startSystemVia(t, eng, func(name, url string) string {
		backends[name] = strings.TrimPrefix(url, "http://")
		return "http://" + frontends[name]
	})
	env := []string{"USER_FRONTEND=" + front[0], "PROPERTY_FRONTEND=" + front[1], "INTERNAL_FRONTEND=" + front[2],
		"HAPROXY_STATS=" + front[3]}
	for _, n := range []string{"1", "2"} {
		env = append(env, "USER_"+n+"="+backends["user"], "PROPERTY_"+n+"="+backends["property"],
			"PROPERTY_INTERNAL_"+n+"="+backends["internal"])
	}
	testenv.Program(t, "haproxy", env, haproxy, "-db", "-f", filepath.Join("..", "deploy", "haproxy", "haproxy.cfg"))
	waitForHAProxy(t, "http://"+front[3]+"/stats;csv")
	d := *s
	d.user, d.property, d.internal = "http://"+backends["user"], "http://"+backends["property"], "http://"+backends["internal"]
	return &d, s
}

// waitForHAProxy waits until its stats CSV shows every server UP (two good
// /readyz checks 500 ms apart).
func waitForHAProxy(t *testing.T, statsURL string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		up, all := haproxyServers(statsURL)
		if all > 0 && up == all {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("HAProxy: %d of %d servers up after 15 s", up, all)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func haproxyServers(statsURL string) (up, all int) {
	resp, err := http.Get(statsURL)
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	r := csv.NewReader(resp.Body)
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil || len(rows) < 2 {
		return 0, 0
	}
	status := slices.Index(rows[0], "status")
	for _, row := range rows[1:] {
		if status < 0 || len(row) <= status || row[1] == "FRONTEND" || row[1] == "BACKEND" {
			continue
		}
		all++
		if row[status] == "UP" {
			up++
		}
	}
	return up, all
}
