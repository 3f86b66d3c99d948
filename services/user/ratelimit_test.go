package user_test

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
)

func tryLogin(t *testing.T, e *env, ip, email, password string) testenv.Response {
	t.Helper()
	return testenv.Do(t, "POST", e.url+"/api/users/authenticate", map[string]string{"email": email, "password": password},
		"X-Forwarded-For", ip)
}

func TestFailedLoginsAreLimitedPerEmailAndPerIP(t *testing.T) {
	fake := newFake(t, goodAnswer)
	e := start(t, "sqlite:"+filepath.Join(t.TempDir(), "u.db"), fake.srv.URL, map[string]string{
		"TRUSTED_PROXIES": "127.0.0.0/8", "LOGIN_FAILURE_LIMIT_PER_EMAIL": "3/1h", "LOGIN_FAILURE_LIMIT_PER_IP": "5/1h"})
	e.register(t, "victim@example.com")
	e.register(t, "other@example.com")
	// Per email: three wrong passwords from three IPs, then even the right one waits.
	for i, ip := range []string{"198.51.100.1", "198.51.100.2", "198.51.100.3"} {
		if r := tryLogin(t, e, ip, "victim@example.com", "wrong password!"); r.Status != 401 {
			t.Fatalf("failure %d: %d", i, r.Status)
		}
	}
	r := tryLogin(t, e, "198.51.100.4", "victim@example.com", "correct horse battery")
	if r.Status != 429 || r.Header.Get("Retry-After") == "" {
		t.Fatalf("after the email's budget: %d %q", r.Status, r.Header.Get("Retry-After"))
	}
	if r := tryLogin(t, e, "198.51.100.4", "other@example.com", "correct horse battery"); r.Status != 200 {
		t.Fatalf("another account: %d", r.Status)
	}
	// Per IP: five failures across different emails, then the IP waits for any email.
	for i, email := range []string{"a@example.com", "b@example.com", "c@example.com", "d@example.com", "e@example.com"} {
		if r := tryLogin(t, e, "203.0.113.9", email, "whatever it is"); r.Status != 401 {
			t.Fatalf("ip failure %d: %d", i, r.Status)
		}
	}
	if r := tryLogin(t, e, "203.0.113.9", "other@example.com", "correct horse battery"); r.Status != 429 {
		t.Fatalf("after the IP's budget: %d", r.Status)
	}
	if r := tryLogin(t, e, "203.0.113.10", "other@example.com", "correct horse battery"); r.Status != 200 {
		t.Fatalf("a different IP: %d", r.Status)
	}
}

func TestLoginLimitHoldsAcrossInstancesSharingRedis(t *testing.T) {
	redisURL := testenv.RedisURL(t)
	prefix := testenv.RandomPrefix()
	fake := newFake(t, goodAnswer)
	dbURL := "sqlite:" + filepath.Join(t.TempDir(), "u.db")
	vars := map[string]string{"TRUSTED_PROXIES": "127.0.0.0/8", "LOGIN_FAILURE_LIMIT_PER_EMAIL": "2/1h",
		"REDIS_URL": redisURL, "REDIS_KEY_PREFIX": prefix}
	a := start(t, dbURL, fake.srv.URL, vars)
	b := start(t, dbURL, fake.srv.URL, vars)
	a.register(t, "shared@example.com")
	if r := tryLogin(t, a, "198.51.100.1", "shared@example.com", "wrong password!"); r.Status != 401 {
		t.Fatal(r.Status)
	}
	if r := tryLogin(t, b, "198.51.100.2", "shared@example.com", "wrong password!"); r.Status != 401 {
		t.Fatal(r.Status)
	}
	for name, e := range map[string]*env{"a": a, "b": b} {
		if r := tryLogin(t, e, "198.51.100.3", "shared@example.com", "correct horse battery"); r.Status != 429 {
			t.Fatalf("instance %s after 2 shared failures: %d", name, r.Status)
		}
	}
}

// limitBackends runs f with the failure budgets in memory, and in Redis when
// TEST_REDIS_URL is set (CI), each on every engine.
// hashes is how many argon2id computations the service has started, read
// from its admin listener's password_hashes_total.
func (e *env) hashes(t *testing.T) int {
	return int(testenv.Sum(t, "http://"+e.svc.Server.Addr("admin")+"/metrics", "password_hashes_total"))
}

func limitBackends(t *testing.T, f func(t *testing.T, dbURL string, vars map[string]string)) {
	for _, eng := range testenv.Engines(t) {
		t.Run(eng.Name+"/memory", func(t *testing.T) { f(t, eng.NewURL(t), map[string]string{}) })
		t.Run(eng.Name+"/redis", func(t *testing.T) {
			f(t, eng.NewURL(t), map[string]string{"REDIS_URL": testenv.RedisURL(t), "REDIS_KEY_PREFIX": testenv.RandomPrefix()})
		})
	}
}

// Issue 17, attack 1: 300 wrong passwords for one account sent at once used to
// get 299 password checks and let the right one in. The budget is now spent
// before hashing, so the account gets at most its 5 checks.
func TestParallelGuessingGetsNoMoreChecksThanTheBudget(t *testing.T) {
	limitBackends(t, func(t *testing.T, dbURL string, vars map[string]string) {
		fake := newFake(t, goodAnswer)
		vars["TRUSTED_PROXIES"] = "127.0.0.0/8"
		vars["LOGIN_FAILURE_LIMIT_PER_EMAIL"] = "5/1h"
		vars["LOGIN_FAILURE_LIMIT_PER_IP"] = "20/1h"
		e := start(t, dbURL, fake.srv.URL, vars)
		e.register(t, "victim@example.com")
		before := e.hashes(t)
		got := testenv.Burst(t, 300, func(i int) (testenv.Response, error) {
			return testenv.Try("POST", e.url+"/api/users/authenticate", map[string]string{"email": "victim@example.com",
				"password": fmt.Sprintf("guess number %d", i)}, "X-Forwarded-For", fmt.Sprintf("198.51.%d.%d", i/200, i%200+1))
		})
		checks := e.hashes(t) - before
		if checks > 5 || got[401] != int(checks) || got[429] != 300-int(checks) {
			t.Fatalf("300 concurrent guesses: %d password checks (budget 5), statuses %v", checks, got)
		}
		if r := tryLogin(t, e, "203.0.113.200", "victim@example.com", "correct horse battery"); r.Status != 429 {
			t.Fatalf("the right password after the burst: %d, want 429", r.Status)
		}
		// The same burst spread over many emails from one IP meets the IP's budget.
		before = e.hashes(t)
		got = testenv.Burst(t, 300, func(i int) (testenv.Response, error) {
			return testenv.Try("POST", e.url+"/api/users/authenticate", map[string]string{"email": fmt.Sprintf("u%d@example.com", i),
				"password": "some guess or other"}, "X-Forwarded-For", "203.0.113.66")
		})
		if checks := e.hashes(t) - before; checks > 20 || got[429] < 280 {
			t.Fatalf("300 concurrent guesses from one IP: %d password checks (budget 20), statuses %v", checks, got)
		}
	})
}

// Issue 17, attack 2: registration hashed without any budget (and its 409 was
// an unlimited account-existence oracle); change-password could be guessed
// without limit with a stolen access token.
func TestRegisterAndChangePasswordFloodsReach429(t *testing.T) {
	limitBackends(t, func(t *testing.T, dbURL string, vars map[string]string) {
		fake := newFake(t, goodAnswer)
		vars["TRUSTED_PROXIES"] = "127.0.0.0/8"
		vars["REGISTER_LIMIT_PER_IP"] = "10/1h"
		vars["PASSWORD_CHANGE_FAILURE_LIMIT"] = "3/1h"
		e := start(t, dbURL, fake.srv.URL, vars)
		e.register(t, "taken@example.com")
		before := e.hashes(t)
		got := testenv.Burst(t, 64, func(i int) (testenv.Response, error) {
			email := "taken@example.com" // the oracle: is this email registered?
			if i%2 == 0 {
				email = fmt.Sprintf("new%d@example.com", i)
			}
			return testenv.Try("POST", e.url+"/api/users/register", map[string]string{"email": email,
				"password": "correct horse battery", "first_name": "A", "last_name": "B"}, "X-Forwarded-For", "198.51.100.20")
		})
		if hashes := e.hashes(t) - before; hashes > 10 || got[429] != 54 || got[201]+got[409] != 10 {
			t.Fatalf("64 registrations from one IP: %d hashes (budget 10), statuses %v", hashes, got)
		}
		if r := testenv.Do(t, "POST", e.url+"/api/users/register", map[string]string{"email": "other@example.com",
			"password": "correct horse battery", "first_name": "A", "last_name": "B"}, "X-Forwarded-For", "198.51.100.21"); r.Status != 201 {
			t.Fatalf("another IP registers: %d", r.Status)
		}

		session, _ := e.login(t, "taken@example.com")
		before = e.hashes(t)
		got = testenv.Burst(t, 40, func(i int) (testenv.Response, error) {
			return testenv.Try("POST", e.url+"/api/users/change-password", map[string]string{"current_password": fmt.Sprintf("guess %d", i),
				"new_password": "a brand new passphrase"}, testenv.Bearer(session.Token)...)
		})
		if checks := e.hashes(t) - before; checks > 3 || got[429] != 37 || got[401] != 3 {
			t.Fatalf("40 concurrent current_password guesses: %d checks (budget 3), statuses %v", checks, got)
		}
		r := testenv.Do(t, "POST", e.url+"/api/users/change-password", map[string]string{"current_password": "correct horse battery",
			"new_password": "a brand new passphrase"}, testenv.Bearer(session.Token)...)
		if r.Status != 429 || r.Header.Get("Retry-After") == "" {
			t.Fatalf("the right current password after the guesses: %d", r.Status)
		}
	})
}

// Issue 17: a flood of registrations from one IP whose budget is spent, on
// keep-alive connections, each asking again as soon as it is answered. A
// refusal costs little, but thousands a second took the cores from other
// users' logins (make bench: register_flood). Each refusal is now held for
// REFUSAL_DELAY, so a connection gets at most one answer per delay.
func TestRefusedRegistrationFloodIsHeld(t *testing.T) {
	fake := newFake(t, goodAnswer)
	e := start(t, "sqlite:"+filepath.Join(t.TempDir(), "u.db"), fake.srv.URL, map[string]string{
		"TRUSTED_PROXIES": "127.0.0.0/8", "REGISTER_LIMIT_PER_IP": "1/1h", "REFUSAL_DELAY": "250ms"})
	const conns, flood = 16, time.Second
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}}
	var answers, other atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(flood)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; time.Now().Before(stop); n++ {
				body := fmt.Sprintf(`{"email":"flood%d-%d@example.com","password":"correct horse battery","first_name":"F","last_name":"F"}`, i, n)
				req, _ := http.NewRequest("POST", e.url+"/api/users/register", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Forwarded-For", "203.0.113.66")
				resp, err := client.Do(req)
				if err != nil {
					other.Add(1)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				answers.Add(1)
				if resp.StatusCode != 429 && resp.StatusCode != 201 || resp.StatusCode == 429 && resp.Header.Get("Retry-After") == "" {
					other.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	// One registration may pass (the budget of one); every other answer is a
	// held 429: at most one per 250 ms per connection, plus the one in flight.
	if n := answers.Load(); n > conns*(int64(flood/(250*time.Millisecond))+1)+1 || other.Load() != 0 {
		t.Fatalf("%d answers to %d connections in %s (%d unexpected): refusals were not held", n, conns, flood, other.Load())
	}
	// Another client's registration is not refused.
	if r := testenv.Do(t, "POST", e.url+"/api/users/register", map[string]string{"email": "other@example.com",
		"password": "correct horse battery", "first_name": "A", "last_name": "B"}, "X-Forwarded-For", "198.51.100.21"); r.Status != 201 {
		t.Fatalf("another IP registers: %d", r.Status)
	}
}

// Issue 25, item 13: failed refreshes spent the client IP's failed-login
// budget. Behind one office NAT, tabs racing one refresh token (each race a
// reuse: 401 and the session ends) locked the whole office out of logging
// in. Failed refreshes now spend a budget of their own.
func TestFailedRefreshesDoNotSpendTheLoginBudget(t *testing.T) {
	fake := newFake(t, goodAnswer)
	e := start(t, "sqlite:"+filepath.Join(t.TempDir(), "u.db"), fake.srv.URL, map[string]string{
		"TRUSTED_PROXIES": "127.0.0.0/8", "LOGIN_FAILURE_LIMIT_PER_IP": "3/1h", "REFRESH_FAILURE_LIMIT_PER_IP": "4/1h"})
	e.register(t, "tabs@example.com")
	const office = "198.51.100.77"
	refresh := func(token string) testenv.Response {
		return testenv.Do(t, "POST", e.url+"/api/users/refresh", map[string]string{"refresh_token": token}, "X-Forwarded-For", office)
	}
	for i := 0; i < 4; i++ { // four sessions, each ended by two tabs refreshing with one token
		r := tryLogin(t, e, office, "tabs@example.com", "correct horse battery")
		if r.Status != 200 {
			t.Fatalf("session %d: login from the office: %d %s", i, r.Status, r.Body)
		}
		var s struct {
			RefreshToken string `json:"refresh_token"`
		}
		r.JSON(t, &s)
		if got := refresh(s.RefreshToken).Status; got != 200 {
			t.Fatalf("session %d: the first tab's refresh: %d", i, got)
		}
		if got := refresh(s.RefreshToken).Status; got != 401 {
			t.Fatalf("session %d: the second tab's refresh (reuse): %d, want 401", i, got)
		}
	}
	// Four failed refreshes, more than the login budget of 3: logging in still works.
	if r := tryLogin(t, e, office, "tabs@example.com", "correct horse battery"); r.Status != 200 {
		t.Fatalf("login from the office after 4 failed refreshes: %d, want 200", r.Status)
	}
	// The refresh budget itself holds: the fifth failure waits.
	if r := refresh("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"); r.Status != 429 || r.Header.Get("Retry-After") == "" {
		t.Fatalf("the fifth failed refresh: %d %q, want 429 with Retry-After", r.Status, r.Header.Get("Retry-After"))
	}
	if r := tryLogin(t, e, office, "tabs@example.com", "correct horse battery"); r.Status != 200 {
		t.Fatalf("login once the refresh budget is spent: %d, want 200", r.Status)
	}
}
