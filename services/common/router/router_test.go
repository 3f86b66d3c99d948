package router

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
)

// /readyz stays outside the request budgets (a probe's address is shared),
// so a flood of it must cost no more than a refusal would: concurrent and
// recent checks share one look at the database.
func TestReadinessChecksShareOneLookAtTheDatabase(t *testing.T) {
	var pings atomic.Int64
	var failing atomic.Bool
	log, _ := testenv.Logger()
	srv := httptest.NewServer(NewRouter(Base{Log: log, Ready: func(context.Context) error {
		pings.Add(1)
		time.Sleep(5 * time.Millisecond) // a database round trip
		if failing.Load() {
			return errors.New("database gone")
		}
		return nil
	}}))
	defer srv.Close()
	var wg sync.WaitGroup
	var bad atomic.Int64
	for i := 0; i < 500; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(srv.URL + "/readyz")
			if err != nil || resp.StatusCode != 200 {
				bad.Add(1)
			}
			if err == nil {
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	if bad.Load() > 0 || pings.Load() > 5 {
		t.Fatalf("500 concurrent readiness checks: %d not 200, %d database pings; want all 200 from at most 5", bad.Load(), pings.Load())
	}
	// A database that stops answering shows within a moment.
	failing.Store(true)
	deadline := time.Now().Add(2 * time.Second)
	for {
		resp, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("readiness still 200 two seconds after the database stopped answering")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
