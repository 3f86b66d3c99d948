package ratelimit_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/services/common/ratelimit"
)

// With Redis unreachable a limiter decides in memory, never waits longer
// than its timeout, and logs the outage once, not once per check.
func TestRedisOutageFallsBackToMemory(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	backend, err := ratelimit.ParseRedisURL("redis://"+dead+"/0", "t:")
	if err != nil {
		t.Fatal(err)
	}
	backend.Timeout = 30 * time.Millisecond
	log, logs := testenv.Logger()
	store := backend.Open(log)
	defer store.Close()
	l := store.New("login", ratelimit.Budget{Count: 3, Window: time.Hour}, ratelimit.FailClosed)
	ctx := context.Background()
	allowed, slowest := 0, time.Duration(0)
	for end := time.Now().Add(2500 * time.Millisecond); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		start := time.Now()
		if l.Take(ctx, "k").Allowed {
			allowed++
		}
		slowest = max(slowest, time.Since(start))
	}
	if allowed != 3 {
		t.Errorf("%d takes allowed with Redis down, want 3 (the budget, held in memory)", allowed)
	}
	if slowest > 200*time.Millisecond {
		t.Errorf("a check waited %s for a Redis that is down (timeout 30ms)", slowest)
	}
	// go-redis's own lines (one per failed dial) are at DEBUG.
	said := strings.Count(logs.String(), `"level":"ERROR"`) + strings.Count(logs.String(), `"level":"WARN"`) +
		strings.Count(logs.String(), `"level":"INFO"`)
	if said != 1 || len(logs.Lines("Redis does not answer: rate limits are held in this process's memory until it does")) != 1 {
		t.Errorf("want one line for the outage, got %d:\n%s", said, logs.String())
	}
}

// What a process spent in Redis it still counts when Redis goes away: a
// client cannot win a fresh budget by making Redis slow or unreachable.
func TestRedisOutageKeepsWhatThisProcessSpent(t *testing.T) {
	opts, err := ratelimit.ParseRedisURL(testenv.RedisURL(t), "")
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.NewProxy(t, opts.Redis.Addr)
	backend, err := ratelimit.ParseRedisURL("redis://"+proxy.Addr()+"/0", testenv.RandomPrefix())
	if err != nil {
		t.Fatal(err)
	}
	log, logs := testenv.Logger()
	store := backend.Open(log)
	defer store.Close()
	l := store.New("login", ratelimit.Budget{Count: 3, Window: time.Hour}, ratelimit.FailClosed)
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if !l.Take(ctx, "victim").Allowed {
			t.Fatalf("take %d refused with Redis up", i)
		}
	}
	proxy.Cut()
	if !l.Take(ctx, "victim").Allowed || l.Take(ctx, "victim").Allowed {
		t.Fatal("with Redis cut after 2 of 3 units: want exactly one more")
	}
	if len(logs.Lines("Redis does not answer: rate limits are held in this process's memory until it does")) != 1 {
		t.Fatalf("the outage was not logged once:\n%s", logs.String())
	}
	proxy.Restore()
	deadline := time.Now().Add(5 * time.Second)
	for len(logs.Lines("rate limits are back in Redis")) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("Redis not used again 5 s after it came back:\n%s", logs.String())
		}
		l.Peek(ctx, "other")
		time.Sleep(50 * time.Millisecond)
	}
	// Redis holds 2 units of victim's budget, this process's share 3: the share wins.
	if l.Take(ctx, "victim").Allowed {
		t.Fatal("a unit spent during the outage was forgotten when Redis came back")
	}
}
