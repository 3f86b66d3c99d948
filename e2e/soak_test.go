//go:build soak

package e2e

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
)

// TestSoak is make soak: a mixed workload (logins, reads, writes, internal
// calls, some bad tokens) for SOAK_DURATION against both services in-process.
// Every answer must be one its operation expects, and the heap at the end must
// be within 20 % of the heap after warm-up.
func TestSoak(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("SOAK_DURATION"))
	if err != nil || d < 5*time.Second {
		t.Fatalf("SOAK_DURATION must be a duration of at least 5s (make soak sets it), got %q", os.Getenv("SOAK_DURATION"))
	}
	newLogger = testenv.DiscardLogger
	// A soak is load, not abuse: budgets far above what it sends.
	s := startSystemWith(t, testenv.Engines(t)[0], map[string]string{"REQUEST_LIMIT": "10000000/1m",
		"INTERNAL_REQUEST_LIMIT": "10000000/1m"})
	type account struct {
		email, token string
		property     int64
	}
	var accounts []account
	for i := 0; i < 4; i++ {
		email := fmt.Sprintf("soak%d@example.com", i)
		register(t, s, email, "soak password 1234")
		sess, _ := login(t, s, email, "soak password 1234")
		r := testenv.Do(t, "POST", s.property+"/api/properties/", map[string]string{"name": "Soak home"}, testenv.Bearer(sess.Token)...)
		var p struct{ ID int64 }
		r.JSON(t, &p)
		accounts = append(accounts, account{email, sess.Token, p.ID})
	}
	type op struct {
		name     string
		expected map[int]bool
		do       func(a account, i int) (testenv.Response, error)
	}
	ops := []op{
		{"login", map[int]bool{200: true}, func(a account, _ int) (testenv.Response, error) {
			return testenv.Try(
				"POST",
				s.user+"/api/users/authenticate",
				map[string]string{"email": a.email, "password": "soak password 1234"},
			)
		}},
		{"list", map[int]bool{200: true}, func(a account, _ int) (testenv.Response, error) {
			return testenv.Try("GET", s.property+"/api/properties/", nil, testenv.Bearer(a.token)...)
		}},
		{"get", map[int]bool{200: true}, func(a account, _ int) (testenv.Response, error) {
			return testenv.Try("GET", fmt.Sprintf("%s/api/property/%d", s.property, a.property), nil, testenv.Bearer(a.token)...)
		}},
		{"create", map[int]bool{201: true}, func(a account, i int) (testenv.Response, error) {
			return testenv.Try(
				"POST",
				s.property+"/api/properties/",
				map[string]string{"name": fmt.Sprintf("Soak %d", i)},
				testenv.Bearer(a.token)...)
		}},
		{"room", map[int]bool{201: true, 409: true}, func(a account, i int) (testenv.Response, error) {
			return testenv.Try(
				"POST",
				fmt.Sprintf("%s/api/property/%d/rooms", s.property, a.property),
				map[string]string{"name": fmt.Sprintf("Room %d", i%50)},
				testenv.Bearer(a.token)...)
		}},
		{"internal", map[int]bool{200: true, 429: true}, func(a account, _ int) (testenv.Response, error) {
			url := s.internal + "/api/internal/properties/users/1"
			return testenv.Try("GET", url, nil, s.claimsCall(t, url)...)
		}},
		// Wrong tokens: 401, then 429 once loopback's failure budget is spent
		// (which also holds back the good internal calls above: the same IP).
		{"bad token", map[int]bool{401: true, 429: true}, func(a account, _ int) (testenv.Response, error) {
			return testenv.Try("GET", s.internal+"/api/internal/properties/users/1", nil, "X-Internal-Token", strings.Repeat("b", 40))
		}},
	}
	weights := []int{1, 6, 6, 2, 2, 4, 1} // of 22
	var plan []int
	for i, w := range weights {
		for j := 0; j < w; j++ {
			plan = append(plan, i)
		}
	}
	var heapWarm uint64
	var count atomic.Int64
	var mu sync.Mutex
	unexpected := map[string]int{}
	start := time.Now()
	warmAt := start.Add(d / 5)
	// Heap is measured with no request in flight (an argon2id hash alone holds
	// 19 MiB): workers hold quiet.RLock per request, the measurement takes Lock.
	var quiet sync.RWMutex
	var errs testenv.Errors // reported from this goroutine: a Fatal under quiet.RLock would hang the run
	var wg sync.WaitGroup
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; time.Since(start) < d; i += 6 {
				o := ops[plan[i%len(plan)]]
				quiet.RLock()
				r, err := o.do(accounts[i%len(accounts)], i)
				quiet.RUnlock()
				count.Add(1)
				if err != nil {
					errs.Add(fmt.Errorf("%s: %w", o.name, err))
					continue
				}
				if !o.expected[r.Status] {
					mu.Lock()
					unexpected[fmt.Sprintf("%s %d", o.name, r.Status)]++
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(time.Until(warmAt))
	quiet.Lock()
	heapWarm = heap()
	quiet.Unlock()
	wg.Wait()
	errs.Check(t)
	heapEnd := heap()
	t.Logf("%d requests in %v; heap after warm-up %d KiB, at the end %d KiB (%.1f %%)", count.Load(), d,
		heapWarm/1024, heapEnd/1024, 100*float64(heapEnd)/float64(heapWarm))
	if len(unexpected) > 0 {
		t.Fatalf("unexpected answers: %v", unexpected)
	}
	if float64(heapEnd) > 1.2*float64(heapWarm) {
		t.Fatalf("heap grew from %d to %d bytes (more than 20 %%)", heapWarm, heapEnd)
	}
}

func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
