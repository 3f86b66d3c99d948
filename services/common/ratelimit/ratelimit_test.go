package ratelimit_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/services/common/ratelimit"
)

// backends runs f on the in-memory limiter, and on Redis when TEST_REDIS_URL is set.
func backends(t *testing.T, b ratelimit.Budget, f func(t *testing.T, l ratelimit.Limiter)) {
	t.Run("memory", func(t *testing.T) { f(t, ratelimit.NewMemory(b, 1000, ratelimit.FailClosed)) })
	t.Run("redis", func(t *testing.T) {
		backend, err := ratelimit.ParseRedisURL(testenv.RedisURL(t), testenv.RandomPrefix())
		if err != nil {
			t.Fatal(err)
		}
		log, _ := testenv.Logger()
		store := backend.Open(log)
		t.Cleanup(func() { store.Close() })
		f(t, store.New("test", b, ratelimit.FailClosed))
	})
}

func TestTakeSpendsAndRefundGivesBack(t *testing.T) {
	backends(t, ratelimit.Budget{Count: 3, Window: time.Hour}, func(t *testing.T, l ratelimit.Limiter) {
		ctx := context.Background()
		for i := 0; i < 3; i++ {
			d := l.Take(ctx, "a")
			if !d.Allowed || d.Remaining != 2-i {
				t.Fatalf("take %d: %+v", i, d)
			}
		}
		d := l.Take(ctx, "a")
		if d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > 20*time.Minute+time.Second {
			t.Fatalf("after 3 takes: %+v (one unit comes back in 20m)", d)
		}
		if p := l.Peek(ctx, "a"); p.Allowed {
			t.Fatalf("Peek on a spent budget: %+v", p)
		}
		if p := l.Peek(ctx, "fresh"); !p.Allowed || p.Remaining != 2 {
			t.Fatalf("Peek on a fresh key: %+v", p)
		}
		if p := l.Peek(ctx, "fresh"); !p.Allowed || p.Remaining != 2 {
			t.Fatalf("Peek spent a unit: %+v", p)
		}
		if d := l.Take(ctx, "b"); !d.Allowed {
			t.Fatal("another key is refused")
		}
		l.Refund(ctx, "a")
		if d := l.Take(ctx, "a"); !d.Allowed {
			t.Fatalf("after a refund: %+v", d)
		}
		// A refund on a full budget does not raise it past its size.
		l.Refund(ctx, "c")
		l.Refund(ctx, "c")
		for i := 0; i < 3; i++ {
			l.Take(ctx, "c")
		}
		if d := l.Take(ctx, "c"); d.Allowed {
			t.Fatal("refunds on a full budget created extra units")
		}
	})
}

// The attack of issue 17: many requests at the same moment must not get more
// units than the budget, because checking and spending are one step.
func TestConcurrentTakesNeverExceedTheBudget(t *testing.T) {
	backends(t, ratelimit.Budget{Count: 5, Window: time.Hour}, func(t *testing.T, l ratelimit.Limiter) {
		var allowed atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := 0; i < 300; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if l.Take(context.Background(), "victim").Allowed {
					allowed.Add(1)
				}
			}()
		}
		close(start)
		wg.Wait()
		if allowed.Load() != 5 {
			t.Fatalf("%d of 300 concurrent takes allowed, want exactly 5", allowed.Load())
		}
	})
}

func TestBudgetRefills(t *testing.T) {
	backends(t, ratelimit.Budget{Count: 2, Window: 200 * time.Millisecond}, func(t *testing.T, l ratelimit.Limiter) {
		ctx := context.Background()
		l.Take(ctx, "k")
		l.Take(ctx, "k")
		if l.Take(ctx, "k").Allowed {
			t.Fatal("third take allowed")
		}
		time.Sleep(250 * time.Millisecond)
		if d := l.Take(ctx, "k"); !d.Allowed {
			t.Fatalf("not refilled after the window: %+v", d)
		}
	})
}

// One million distinct keys (attacker-chosen emails) must neither grow memory
// past the bound nor slow each call down: the store is an LRU with O(1) work.
func TestMemoryLimiterStaysBounded(t *testing.T) {
	const max = 10_000
	l := ratelimit.NewMemory(ratelimit.Budget{Count: 5, Window: time.Hour}, max, ratelimit.FailClosed)
	ctx := context.Background()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	refused := 0
	for i := 0; i < 1_000_000; i++ {
		if !l.Take(ctx, fmt.Sprintf("email:%d@example.com", i)).Allowed {
			refused++
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if l.Len() > max {
		t.Fatalf("%d keys held, bound is %d", l.Len(), max)
	}
	// Full of keys still carrying failures: new keys are refused (fail closed).
	if refused != 1_000_000-max {
		t.Fatalf("%d refused, want %d (fail closed once full)", refused, 1_000_000-max)
	}
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 8<<20 {
		t.Fatalf("heap grew %d bytes for a %d-key bound", grown, max)
	}
	// Request budgets forget the least recently used key instead.
	r := ratelimit.NewMemory(ratelimit.Budget{Count: 5, Window: time.Hour}, max, ratelimit.ForgetOldest)
	for i := 0; i < 100_000; i++ {
		if !r.Take(ctx, fmt.Sprint(i)).Allowed {
			t.Fatal("a request budget refused a new key when full")
		}
	}
	if r.Len() != max {
		t.Fatalf("%d keys, want %d", r.Len(), max)
	}
}

func TestParseBudget(t *testing.T) {
	if b, err := ratelimit.ParseBudget("10/1m"); err != nil || b.Count != 10 || b.Window != time.Minute {
		t.Fatalf("%v %v", b, err)
	}
	for _, bad := range []string{"", "10", "0/1m", "-1/1m", "10/forever", "x/1m"} {
		if _, err := ratelimit.ParseBudget(bad); err == nil {
			t.Fatalf("%q accepted", bad)
		}
	}
	b := ratelimit.Budget{Count: 7, Window: 90 * time.Second}
	if back, err := ratelimit.ParseBudget(b.String()); err != nil || back != b {
		t.Fatalf("String does not parse back: %v %v", back, err)
	}
}

// Every refused request is counted once under its budget's name: by Take,
// and by Peek (the register door refuses a flood there, before the body).
func TestRefusalsAreCounted(t *testing.T) {
	store := ratelimit.Backend{}.Open(nil)
	refused := map[string]int{}
	store.OnRefuse = func(budget string) { refused[budget]++ }
	l := store.New("register", ratelimit.Budget{Count: 1, Window: time.Hour}, ratelimit.FailClosed)
	ctx := context.Background()
	if !l.Take(ctx, "ip:1").Allowed || !l.Peek(ctx, "ip:2").Allowed {
		t.Fatal("the first unit was refused")
	}
	if refused["register"] != 0 {
		t.Fatalf("allowed requests counted as refused: %v", refused)
	}
	if l.Take(ctx, "ip:1").Allowed || l.Peek(ctx, "ip:1").Allowed {
		t.Fatal("a spent budget allowed a request")
	}
	if refused["register"] != 2 || len(refused) != 1 {
		t.Fatalf("refusals counted %v, want register: 2 (one by Take, one by Peek)", refused)
	}
}
