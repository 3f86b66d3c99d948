package testenv

import (
	"sync"
	"testing"
)

// Concurrently runs f(0), ..., f(n-1) in n goroutines released at the same
// moment, waits for all of them, and fails the test (from the test's own
// goroutine) with the errors they returned.
func Concurrently(t testing.TB, n int, f func(i int) error) {
	t.Helper()
	var errs Errors
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs.Add(f(i))
		}()
	}
	close(start)
	wg.Wait()
	errs.Check(t)
}

// Burst sends n requests at the same moment (send(i) makes the i-th, with
// Try) and counts the statuses they got.
func Burst(t testing.TB, n int, send func(i int) (Response, error)) map[int]int {
	t.Helper()
	var mu sync.Mutex
	statuses := map[int]int{}
	Concurrently(t, n, func(i int) error {
		r, err := send(i)
		mu.Lock()
		statuses[r.Status]++
		mu.Unlock()
		return err
	})
	return statuses
}
