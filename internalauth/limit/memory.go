package limit

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// DefaultMaxKeys bounds an in-memory limiter: about 100 bytes a key, so at
// most ~10 MB per limiter whatever keys an attacker invents (emails, IPs).
const DefaultMaxKeys = 100_000

// Memory is a per-process Limiter: one timestamp per key in an LRU of at most
// maxKeys entries (hashicorp/golang-lru), so every call is O(1) and memory is
// bounded.
type Memory struct {
	budget Budget
	full   WhenFull
	now    func() time.Time

	mu      sync.Mutex
	keys    *simplelru.LRU[string, time.Time]
	maxKeys int
}

// NewMemory returns an in-memory limiter holding at most maxKeys keys
// (DefaultMaxKeys). full says what a new key gets once all of them still
// carry spent units: FailClosed for a failure budget (forgetting a key's
// failures would hand it a fresh budget), ForgetOldest for a request
// budget.
func NewMemory(b Budget, maxKeys int, full WhenFull) *Memory {
	keys, err := simplelru.NewLRU[string, time.Time](maxKeys, nil)
	if err != nil {
		panic(err) // only for maxKeys <= 0, a programming error
	}
	return &Memory{budget: b, full: full, now: time.Now, keys: keys, maxKeys: maxKeys}
}

// Budget implements Limiter.
func (m *Memory) Budget() Budget { return m.budget }

// Len is how many keys the limiter holds now.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.keys.Len()
}

// Take implements Limiter.
func (m *Memory) Take(_ context.Context, key string) Decision {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	tat, known := m.keys.Get(key)
	if !known && m.keys.Len() >= m.maxKeys {
		if _, oldest, _ := m.keys.GetOldest(); oldest.After(now) && m.full == FailClosed {
			// Full of keys that still carry spent units: refuse rather than
			// forget one (the least recently used, which may be an attack's).
			return Decision{Allowed: false, RetryAfter: oldest.Sub(now)}
		}
		m.keys.RemoveOldest()
	}
	next, d := GCRA(m.budget, tat, now, 1)
	if d.Allowed {
		m.store(key, next, now)
	}
	return d
}

// Peek implements Limiter.
func (m *Memory) Peek(_ context.Context, key string) Decision {
	now := m.now()
	m.mu.Lock()
	tat, _ := m.keys.Peek(key)
	m.mu.Unlock()
	_, d := GCRA(m.budget, tat, now, 1)
	return d
}

// Refund implements Limiter.
func (m *Memory) Refund(_ context.Context, key string) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	tat, known := m.keys.Peek(key)
	if !known {
		return
	}
	next, _ := GCRA(m.budget, tat, now, -1)
	m.store(key, next, now)
}

// store keeps key's tat. A key whose budget is full again stays, with a tat
// in the past: it carries nothing and is the first to go when space is
// needed, and the next Take for it updates an entry instead of allocating one
// (a good caller takes and refunds on every call).
func (m *Memory) store(key string, tat, now time.Time) {
	if tat.IsZero() {
		tat = now
	}
	m.keys.Add(key, tat)
}

// WhenFull says what an in-memory limiter does with a new key once it holds
// its most keys and all of them still carry spent units.
type WhenFull int

const (
	// FailClosed refuses the new key: forgetting a key's failures would hand
	// an attacker a fresh budget (failure budgets).
	FailClosed WhenFull = iota
	// ForgetOldest evicts the least recently used key (request budgets: an
	// evicted client merely gets a full budget back).
	ForgetOldest
)
