package ratelimit

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// DefaultRedisTimeout is how long a budget check waits for Redis
// (REDIS_TIMEOUT) before it is decided in memory: a script on a healthy
// Redis answers in well under a millisecond, and every check a login makes
// waits this long at most, once.
const DefaultRedisTimeout = 50 * time.Millisecond

// Redis outages, as the limiters see them.
const (
	// redisRetryEvery: while Redis is down, one check this often tries it
	// again (the others are decided in memory without waiting).
	redisRetryEvery = time.Second
	// stillDownEvery: while it stays down, one line this often says so.
	stillDownEvery = time.Minute
)

// redisHealth is what the limiters of one Store know about their Redis:
// whether it answers. When a call fails or takes longer than timeout, Redis
// is down: the limiters decide by their share in memory alone (see Redis),
// so a budget never fails open and no check waits for a Redis that does not
// answer; once a second one check tries Redis again, and the first that gets
// an answer brings every limiter back to it. The outage is logged when it
// starts (ERROR), once a minute while it lasts, and when it ends (WARN): a
// few lines, never one per request.
//
// What the fallback costs: for the outage each replica holds the budgets on
// its own, from what its own clients spent (an attacker spread over N
// replicas gets up to N budgets, less what each already spent), and what
// was spent in memory meanwhile is not carried over to Redis.
type redisHealth struct {
	log     *slog.Logger
	timeout time.Duration
	now     func() time.Time

	mu        sync.Mutex
	down      bool
	since     time.Time // when the outage started
	retryAt   time.Time // when the next check may try Redis
	probing   bool      // a check is trying Redis now
	lastSaid  time.Time // when the outage was last logged
	inMemory  int       // checks decided in memory since it was last logged
	lastError string
}

func newRedisHealth(log *slog.Logger, timeout time.Duration) *redisHealth {
	if timeout <= 0 {
		timeout = DefaultRedisTimeout
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &redisHealth{log: log, timeout: timeout, now: time.Now}
}

// usable says whether this check may ask Redis, and whether it is the one
// check trying Redis again during an outage (a probe).
func (h *redisHealth) usable() (use, probe bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.down {
		return true, false
	}
	if !h.probing && !h.now().Before(h.retryAt) {
		h.probing = true
		return true, true
	}
	h.inMemory++
	return false, false
}

// failed records that Redis did not answer a check.
func (h *redisHealth) failed(ctx context.Context, err error, probe bool) {
	now := h.now()
	h.mu.Lock()
	h.lastError = err.Error()
	h.inMemory++
	if probe {
		h.probing = false
	}
	if !h.down {
		h.down, h.since, h.retryAt, h.lastSaid, h.inMemory = true, now, now.Add(redisRetryEvery), now, 0
		h.mu.Unlock()
		h.log.ErrorContext(ctx, "Redis does not answer: rate limits are held in this process's memory until it does",
			"error", err.Error(), "timeout", h.timeout.String())
		return
	}
	if probe {
		h.retryAt = now.Add(redisRetryEvery)
	}
	if now.Sub(h.lastSaid) < stillDownEvery {
		h.mu.Unlock()
		return
	}
	down, decided := now.Sub(h.since), h.inMemory
	h.lastSaid, h.inMemory = now, 0
	h.mu.Unlock()
	h.log.ErrorContext(ctx, "Redis still does not answer: rate limits are held in memory", "error", err.Error(),
		"down_for", down.Round(time.Second).String(), "checks_in_memory", decided)
}

// answered records that Redis answered a check.
func (h *redisHealth) answered(ctx context.Context, probe bool) {
	h.mu.Lock()
	if probe {
		h.probing = false
	}
	if !h.down {
		h.mu.Unlock()
		return
	}
	h.down = false
	down, decided := h.now().Sub(h.since), h.inMemory
	h.mu.Unlock()
	h.log.WarnContext(ctx, "rate limits are back in Redis", "down_for", down.Round(time.Millisecond).String(),
		"checks_in_memory", decided)
}
