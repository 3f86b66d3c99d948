package user_test

import (
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
)

// hungRedis is a listener that accepts connections and never answers: a
// Redis that is up but stuck (a long script, a full disk, a paused VM).
func hungRedis(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

// deadRedis is an address nothing listens on: a Redis that is down.
func deadRedis(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// redisLines counts the WARN and ERROR lines: about Redis or the budgets'
// backend, since nothing else in these logins warns.
func redisLines(logs *testenv.LogBuffer) int {
	return strings.Count(logs.String(), `"level":"ERROR"`) + strings.Count(logs.String(), `"level":"WARN"`)
}

// Issue 25, item 9: with Redis down every failure budget failed open (12 of
// 12 wrong passwords for one email got 401, the budget being 5), and with
// Redis hung every budget check waited half a second. Budgets now fall back to
// memory within a short timeout, never open, and say so in a line or two,
// not one per request.
func TestBudgetsHoldWhenRedisIsDownOrHung(t *testing.T) {
	for _, c := range []struct{ name, addr string }{{"down", deadRedis(t)}, {"hung", hungRedis(t)}} {
		t.Run(c.name, func(t *testing.T) {
			fake := newFake(t, goodAnswer)
			e := start(t, "sqlite:"+filepath.Join(t.TempDir(), "u.db"), fake.srv.URL, map[string]string{
				"REDIS_URL": "redis://" + c.addr + "/0", "REFUSAL_DELAY": "0", "TRUSTED_PROXIES": "127.0.0.0/8"})
			e.register(t, "victim@example.com")
			statuses := map[int]int{}
			var slowestRefusal time.Duration
			start := time.Now()
			for i := 0; i < 12; i++ {
				sent := time.Now()
				r := tryLogin(t, e, "198.51.100.1", "victim@example.com", "wrong password!")
				statuses[r.Status]++
				if took := time.Since(sent); r.Status == 429 && took > slowestRefusal {
					slowestRefusal = took
				}
			}
			took := time.Since(start)
			t.Logf("Redis %s: 12 wrong passwords: %v in %s, slowest 429 %s, %d log lines about Redis",
				c.name, statuses, took.Round(time.Millisecond), slowestRefusal.Round(time.Millisecond), redisLines(e.logs))
			if statuses[401] != 5 || statuses[429] != 7 {
				t.Errorf("12 wrong passwords for one email with Redis %s: %v, want 5 × 401 then 7 × 429 (the budget is 5)", c.name, statuses)
			}
			if slowestRefusal > 250*time.Millisecond {
				t.Errorf("with Redis %s a refusal took %s: the budget check waits for Redis", c.name, slowestRefusal)
			}
			if n := redisLines(e.logs); n == 0 || n > 3 {
				t.Errorf("%d log lines about Redis for 12 logins, want 1 to 3:\n%s", n, e.logs.String())
			}
		})
	}
}

// Cut and restored, Redis takes the budgets back: failures on one replica
// count on another again.
func TestBudgetsGoBackToRedisWhenItAnswersAgain(t *testing.T) {
	redisURL := testenv.RedisURL(t)
	target := strings.TrimPrefix(strings.SplitN(strings.TrimPrefix(redisURL, "redis://"), "/", 2)[0], "")
	proxy := testenv.NewProxy(t, target)
	prefix := testenv.RandomPrefix()
	fake := newFake(t, goodAnswer)
	dbURL := "sqlite:" + filepath.Join(t.TempDir(), "u.db")
	vars := map[string]string{"REDIS_KEY_PREFIX": prefix, "REFUSAL_DELAY": "0", "TRUSTED_PROXIES": "127.0.0.0/8",
		"REDIS_URL": "redis://" + proxy.Addr() + "/0"}
	a := start(t, dbURL, fake.srv.URL, vars)
	a.register(t, "first@example.com")
	a.register(t, "second@example.com")
	proxy.Cut()
	statuses := map[int]int{}
	for i := 0; i < 7; i++ {
		statuses[tryLogin(t, a, "198.51.100.1", "first@example.com", "wrong password!").Status]++
	}
	if statuses[401] != 5 || statuses[429] != 2 {
		t.Fatalf("with Redis cut: %v, want 5 × 401, 2 × 429", statuses)
	}
	proxy.Restore()
	deadline := time.Now().Add(10 * time.Second)
	for len(a.logs.Lines("rate limits are back in Redis")) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no sign of Redis being used again 10 s after it came back:\n%s", a.logs.String())
		}
		tryLogin(t, a, "198.51.100.2", "nobody@example.com", "wrong password!")
		time.Sleep(100 * time.Millisecond)
	}
	// Back in Redis: another replica sees a's failures.
	b := start(t, dbURL, fake.srv.URL, map[string]string{"REDIS_KEY_PREFIX": prefix, "REDIS_URL": redisURL, "REFUSAL_DELAY": "0",
		"TRUSTED_PROXIES": "127.0.0.0/8"})
	for i := 0; i < 5; i++ {
		if r := tryLogin(t, a, "198.51.100.3", "second@example.com", "wrong password!"); r.Status != 401 {
			t.Fatalf("failure %d after Redis came back: %d", i, r.Status)
		}
	}
	if r := tryLogin(t, b, "198.51.100.4", "second@example.com", "correct horse battery"); r.Status != 429 {
		t.Fatalf("another replica after 5 failures on the first, Redis back: %d, want 429 (one budget in Redis)", r.Status)
	}
}
