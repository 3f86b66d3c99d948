package user_test

import (
	"path/filepath"
	"testing"

	"jeeves4service/services/common/testenv"
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
