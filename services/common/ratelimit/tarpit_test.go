package ratelimit_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/services/common/ratelimit"
)

// holdAll starts a hold of each key at once and returns how many were held.
func holdAll(t *ratelimit.Tarpit, keys ...string) int {
	var wg sync.WaitGroup
	var mu sync.Mutex
	held := 0
	for _, k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if t.Hold(context.Background(), k) {
				mu.Lock()
				held++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return held
}

func TestTarpitHoldsUpToItsBounds(t *testing.T) {
	tp := ratelimit.NewTarpit(300*time.Millisecond, 2, 3)
	start := time.Now()
	if !tp.Hold(context.Background(), "ip:a") {
		t.Fatal("a lone refusal was not held")
	}
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Fatalf("held for %s, less than the delay", took)
	}
	// Five of one key at once: two held (PerKey), the rest answered at once.
	if held := holdAll(tp, "ip:a", "ip:a", "ip:a", "ip:a", "ip:a"); held != 2 {
		t.Fatalf("one key: %d held, want 2", held)
	}
	// Two keys, two each: three held in all (Total).
	if held := holdAll(tp, "ip:a", "ip:a", "ip:b", "ip:b"); held != 3 {
		t.Fatalf("two keys: %d held, want 3", held)
	}
	// Everything was released: the bounds apply afresh.
	if held := holdAll(tp, "ip:c", "ip:c"); held != 2 {
		t.Fatalf("after release: %d held, want 2", held)
	}
}

func TestTarpitLetsGoWhenTheClientLeaves(t *testing.T) {
	tp := ratelimit.NewTarpit(time.Hour, 1, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if !tp.Hold(ctx, "ip:a") {
		t.Fatal("not held")
	}
	// Its place is free again.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel2()
	if !tp.Hold(ctx2, "ip:b") {
		t.Fatal("the first hold's place was not given back")
	}
}

func TestNoDelayNoTarpit(t *testing.T) {
	if tp := ratelimit.NewTarpit(0, 1, 1); tp != nil || tp.Hold(context.Background(), "ip:a") {
		t.Fatal("a zero delay made a tarpit")
	}
}
