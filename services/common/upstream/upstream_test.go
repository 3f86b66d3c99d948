package upstream

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// A request refused for its own sake (one user's stale access token) is
// asked once, and any number of them leave the circuit closed; the same
// number of upstream failures open it.
func TestRefusalsForOneRequestNeitherRetryNorOpenTheCircuit(t *testing.T) {
	u := New[int](Settings{Name: "test", FailuresToOpen: 3})
	calls := 0
	refused := func(context.Context) (int, error) {
		calls++
		return 0, fmt.Errorf("exchange: %w", ErrRefusedForThisRequest)
	}
	for range 10 {
		if _, err := u.Call(context.Background(), refused); !errors.Is(err, ErrRefusedForThisRequest) {
			t.Fatalf("refused: %v", err)
		}
	}
	if calls != 10 || u.State() != "closed" {
		t.Fatalf("%d calls for 10 refusals, circuit %s", calls, u.State())
	}
	down := func(context.Context) (int, error) { return 0, &StatusError{Service: "x", Status: 503} }
	for range 3 {
		_, _ = u.Call(context.Background(), down)
	}
	if u.State() != "open" {
		t.Fatalf("after 3 upstream failures the circuit is %s", u.State())
	}
}
