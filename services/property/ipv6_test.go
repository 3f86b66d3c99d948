package property_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/services/common/ratelimit"
	"github.com/jeeves4service/jeeves4service/services/property"
)

// Issue 25, item 10: IPv6 clients are budgeted per /64, on the internal
// listener's failure budget and the public listener's request budget alike.
func TestIPv6ClientsAreBudgetedPerSlash64(t *testing.T) {
	e := startWith(t, "sqlite:"+filepath.Join(t.TempDir(), "p.db"), func(c *property.Config) {
		limited(10, ratelimit.Backend{})(c)
		c.RequestLimit = ratelimit.Budget{Count: 5, Window: time.Hour}
	})
	statuses := map[int]int{}
	for i := 1; i <= 15; i++ {
		statuses[call(t, e, fmt.Sprintf("2001:db8:9:9:%x::1", i), strings.Repeat("g", 40)).Status]++
	}
	if statuses[401] != 10 || statuses[429] != 5 {
		t.Fatalf("15 wrong internal tokens from 15 addresses of one /64 (budget 10): %v, want 10 × 401, 5 × 429", statuses)
	}
	if r := call(t, e, "2001:db8:9:a::1", goodToken); r.Status != 200 {
		t.Fatalf("the right token from another /64: %d", r.Status)
	}
	statuses = map[int]int{}
	for i := 1; i <= 8; i++ {
		r, err := tryGet(e.public+"/openapi.json", "X-Forwarded-For", fmt.Sprintf("2001:db8:5:5::%x", i))
		if err != nil {
			t.Fatal(err)
		}
		statuses[r]++
	}
	if statuses[429] != 3 {
		t.Fatalf("8 requests from 8 addresses of one /64 (budget 5): %v, want 3 × 429", statuses)
	}
}

func tryGet(url string, headers ...string) (int, error) {
	r, err := testenv.Try("GET", url, nil, headers...)
	return r.Status, err
}
