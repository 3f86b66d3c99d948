package ratelimit_test

import (
	"context"
	"testing"
	"time"

	"jeeves4service/services/common/ratelimit"
)

func TestMemoryBudget(t *testing.T) {
	l := ratelimit.NewMemory(ratelimit.Budget{Failures: 3, Window: time.Hour})
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if blocked, _ := l.Blocked(ctx, "a"); blocked {
			t.Fatalf("blocked after %d failures", i)
		}
		l.Fail(ctx, "a")
	}
	blocked, wait := l.Blocked(ctx, "a")
	if !blocked || wait <= 0 || wait > 20*time.Minute+time.Second {
		t.Fatalf("after 3 failures: blocked %v, wait %v (one unit refills in 20m)", blocked, wait)
	}
	if blocked, _ := l.Blocked(ctx, "b"); blocked {
		t.Fatal("another key is blocked")
	}
}

func TestBudgetFromEnv(t *testing.T) {
	get := func(v string) func(string) string { return func(string) string { return v } }
	def := ratelimit.Budget{Failures: 1, Window: time.Second}
	if b, err := ratelimit.BudgetFromEnv(get("10/1m"), "X", def); err != nil || b.Failures != 10 || b.Window != time.Minute {
		t.Fatalf("%v %v", b, err)
	}
	if b, err := ratelimit.BudgetFromEnv(get(""), "X", def); err != nil || b != def {
		t.Fatalf("default: %v %v", b, err)
	}
	for _, bad := range []string{"10", "0/1m", "-1/1m", "10/forever", "x/1m"} {
		if _, err := ratelimit.BudgetFromEnv(get(bad), "X", def); err == nil {
			t.Fatalf("%q accepted", bad)
		}
	}
}
