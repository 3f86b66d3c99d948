// Package ratelimit bounds brute force: it counts failures (wrong internal
// tokens, failed logins) per key and says when a key's budget is spent. The
// counters live in Redis when REDIS_URL is set, so a limit holds across
// replicas (go-redis/redis_rate: GCRA in one Lua script, atomic in Redis), and
// in memory otherwise (golang.org/x/time/rate token buckets).
package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"

	"jeeves4service/services/common/config"
)

// Budget is how many failures a key may have per Window.
type Budget struct {
	Failures int
	Window   time.Duration
}

func (b Budget) interval() time.Duration { return b.Window / time.Duration(b.Failures) }

// Or returns b, or def when b is unset (a Config built in code rather than
// read from the environment).
func (b Budget) Or(def Budget) Budget {
	if b.Failures <= 0 || b.Window <= 0 {
		return def
	}
	return b
}

// Limiter counts failures per key.
type Limiter interface {
	// Blocked reports whether key's budget is spent, and when to try again.
	Blocked(ctx context.Context, key string) (bool, time.Duration)
	// Fail spends one unit of key's budget.
	Fail(ctx context.Context, key string)
}

// Memory is a per-process Limiter.
type Memory struct {
	budget Budget
	mu     sync.Mutex
	keys   map[string]*rate.Limiter
}

// NewMemory returns an in-memory limiter.
func NewMemory(b Budget) *Memory {
	return &Memory{budget: b, keys: map[string]*rate.Limiter{}}
}

const maxMemoryKeys = 100_000

func (m *Memory) limiter(key string) *rate.Limiter {
	l, ok := m.keys[key]
	if !ok {
		if len(m.keys) >= maxMemoryKeys {
			m.prune()
		}
		l = rate.NewLimiter(rate.Every(m.budget.interval()), m.budget.Failures)
		m.keys[key] = l
	}
	return l
}

// prune forgets keys whose bucket has refilled: they carry no information.
func (m *Memory) prune() {
	now := time.Now()
	for k, l := range m.keys {
		if l.TokensAt(now) >= float64(m.budget.Failures) {
			delete(m.keys, k)
		}
	}
}

// Blocked implements Limiter.
func (m *Memory) Blocked(_ context.Context, key string) (bool, time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.keys[key]
	if !ok {
		return false, 0
	}
	tokens := l.TokensAt(time.Now())
	if tokens >= 1 {
		return false, 0
	}
	return true, time.Duration((1 - tokens) * float64(m.budget.interval()))
}

// Fail implements Limiter.
func (m *Memory) Fail(_ context.Context, key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.limiter(key).Allow()
}

// Redis is a Limiter shared by every replica using the same Redis.
type Redis struct {
	budget Budget
	limit  redis_rate.Limit
	rl     *redis_rate.Limiter
	prefix string
	log    *slog.Logger
}

// NewRedis returns a Redis-backed limiter; prefix namespaces its keys.
func NewRedis(client *redis.Client, b Budget, prefix string, log *slog.Logger) *Redis {
	return &Redis{budget: b, limit: redis_rate.Limit{Rate: b.Failures, Burst: b.Failures, Period: b.Window},
		rl: redis_rate.NewLimiter(client), prefix: prefix, log: log}
}

// Blocked implements Limiter. A cost-0 GCRA call reads the bucket without
// spending. If Redis is unreachable the limiter fails open (logged at ERROR):
// locking every caller out because the counter store is down would turn a
// Redis outage into a full outage.
func (r *Redis) Blocked(ctx context.Context, key string) (bool, time.Duration) {
	res, err := r.rl.AllowN(ctx, r.prefix+key, r.limit, 0)
	if err != nil {
		r.log.ErrorContext(ctx, "rate limit check failed; allowing", "error", err.Error())
		return false, 0
	}
	if res.Remaining >= 1 {
		return false, 0
	}
	return true, r.budget.interval()
}

// Fail implements Limiter.
func (r *Redis) Fail(ctx context.Context, key string) {
	if _, err := r.rl.AllowN(ctx, r.prefix+key, r.limit, 1); err != nil {
		r.log.ErrorContext(ctx, "rate limit count failed", "error", err.Error())
	}
}

// BudgetFromEnv reads NAME as "N/DURATION" (e.g. "10/1m").
func BudgetFromEnv(getenv config.Getenv, name string, def Budget) (Budget, error) {
	v := config.String(getenv, name, "")
	if v == "" {
		return def, nil
	}
	var n int
	var window string
	if _, err := fmt.Sscanf(v, "%d/%s", &n, &window); err != nil || n <= 0 {
		return Budget{}, &config.Error{Var: name, Problem: fmt.Sprintf("must be COUNT/DURATION such as 10/1m, got %q", v)}
	}
	d, err := time.ParseDuration(window)
	if err != nil || d <= 0 {
		return Budget{}, &config.Error{Var: name, Problem: fmt.Sprintf("must be COUNT/DURATION such as 10/1m, got %q", v)}
	}
	return Budget{Failures: n, Window: d}, nil
}

// Backend says where failure counters live: in Redis when Redis is set (so
// replicas share them), in this process otherwise. It is plain configuration;
// Store turns it into a live client once, when a service starts.
type Backend struct {
	Redis  *redis.Options // nil: in memory
	Prefix string         // namespaces the Redis keys
}

// BackendFromEnv reads REDIS_URL (optional) and REDIS_KEY_PREFIX (default
// "jeeves4service:"; replicas that should share limits use the same one).
func BackendFromEnv(getenv config.Getenv) (Backend, error) {
	url := config.String(getenv, "REDIS_URL", "")
	if url == "" {
		return Backend{}, nil
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		return Backend{}, &config.Error{Var: "REDIS_URL", Problem: "must be a redis:// URL"}
	}
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = time.Second, 500*time.Millisecond, 500*time.Millisecond
	return Backend{Redis: opts, Prefix: config.String(getenv, "REDIS_KEY_PREFIX", "jeeves4service:")}, nil
}

// Store builds limiters on one backend.
type Store struct {
	client *redis.Client // nil: in memory
	prefix string
	log    *slog.Logger
}

// Store connects to the backend (lazily: go-redis dials on first use).
func (b Backend) Store(log *slog.Logger) Store {
	if b.Redis == nil {
		return Store{log: log}
	}
	return Store{client: redis.NewClient(b.Redis), prefix: b.Prefix, log: log}
}

// New returns a limiter named name with budget b.
func (s Store) New(name string, b Budget) Limiter {
	if s.client == nil {
		return NewMemory(b)
	}
	return NewRedis(s.client, b, s.prefix+name+":", s.log)
}
