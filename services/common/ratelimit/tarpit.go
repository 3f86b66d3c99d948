package ratelimit

import (
	"context"
	"sync"
	"time"
)

// Tarpit holds a refusal for a while before it is sent. A 429 costs the
// server little, but a client that ignores Retry-After and asks again at once
// on many keep-alive connections can still send thousands a second, and on a
// small machine those take the cores from other users' logins. Held, each refusal costs the server a sleeping goroutine
// and no CPU, and costs such a client one connection for the delay. A client that
// honours Retry-After never notices: it would have waited longer anyway.
//
// Holding is bounded, so that a tarpit cannot be turned into a memory
// exhaustion: at most perKey refusals of one key (a client IP) and limit in
// all are held at once; past either, Hold answers false and the refusal goes
// out at once, and the caller closes the connection (Connection: close), so
// that a client with more connections than perKey pays a new handshake for
// every extra attempt. Make one with NewTarpit.
type Tarpit struct {
	delay         time.Duration
	perKey, limit int

	mu    sync.Mutex
	held  map[string]int
	total int
}

// Tarpit bounds for a service's public listener: a client IP may have up to
// TarpitPerIP refusals held at once (more keep-alive connections than an
// honest client, or a NAT of them, would open), all IPs up to TarpitTotal
// (at about 16 KiB a held request, some 16 MiB).
const (
	DefaultRefusalDelay = time.Second
	TarpitPerIP         = 128
	TarpitTotal         = 1024
)

// NewTarpit returns a tarpit, or nil (no tarpit) for a zero delay.
func NewTarpit(delay time.Duration, perKey, total int) *Tarpit {
	if delay <= 0 {
		return nil
	}
	return &Tarpit{delay: delay, perKey: perKey, limit: total, held: map[string]int{}}
}

// Hold waits the delay (or until ctx ends) when key and the tarpit have room,
// and reports whether it held the refusal.
func (t *Tarpit) Hold(ctx context.Context, key string) bool {
	if t == nil {
		return false
	}
	t.mu.Lock()
	if t.held[key] >= t.perKey || t.total >= t.limit {
		t.mu.Unlock()
		return false
	}
	t.held[key]++
	t.total++
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		if t.held[key]--; t.held[key] == 0 {
			delete(t.held, key)
		}
		t.total--
		t.mu.Unlock()
	}()
	timer := time.NewTimer(t.delay)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
	return true
}
