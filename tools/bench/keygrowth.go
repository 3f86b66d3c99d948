package main

import (
	"context"
	"strconv"
	"time"

	"github.com/jeeves4service/jeeves4service/services/common/ratelimit"
)

// keyGrowthRatio takes one unit for each of n distinct keys in a fresh
// limiter with the default bound and returns the time per call of the last
// `sample` keys divided by that of the first `sample`: O(1) work per call
// keeps it near 1.
func keyGrowthRatio(n, sample int) float64 {
	l := ratelimit.NewMemory(ratelimit.Budget{Count: 5, Window: time.Hour}, ratelimit.DefaultMaxKeys, ratelimit.FailClosed)
	ctx := context.Background()
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "email:" + strconv.Itoa(i) + "@example.com"
	}
	timeRange := func(from, to int) time.Duration {
		start := time.Now()
		for _, k := range keys[from:to] {
			l.Take(ctx, k)
		}
		return time.Since(start)
	}
	first := timeRange(0, sample)
	timeRange(sample, n-sample)
	last := timeRange(n-sample, n)
	return float64(last) / float64(first)
}
