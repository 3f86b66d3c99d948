// Package ratelimit bounds what one client may do per window: wrong internal
// tokens, failed logins, password checks, requests. A budget is spent
// atomically *before* the guarded work (Take: check and spend in one step), so
// however many requests arrive at once, a key never gets more attempts than its
// budget; an attempt that turned out fine may give its unit back (Refund).
//
// One algorithm (GCRA, the generic cell rate algorithm: one timestamp per key)
// runs on two backends: in memory, in a bounded LRU with O(1) work per call,
// and in Redis, in one Lua script (atomic in Redis), so replicas share budgets.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jeeves4service/jeeves4service/internalauth/limit"
)

// The budgets themselves are the internal-call library's (package limit):
// its guard spends them, and so does every budget of these services. These
// names keep this package's callers as they were; Off, the parsers, the
// Redis store and the tarpit are the services' own.
type (
	Budget    = limit.Budget
	Decision  = limit.Decision
	Limiter   = limit.Limiter
	Memory    = limit.Memory
	WhenFull  = limit.WhenFull
	Governing = limit.Governing
)

const (
	FailClosed          = limit.FailClosed
	ForgetOldest        = limit.ForgetOldest
	DefaultMaxKeys      = limit.DefaultMaxKeys
	PolicyHeader        = limit.PolicyHeader
	StateHeader         = limit.StateHeader
	SubjectPolicy       = limit.SubjectPolicy
	SubjectPolicyPrefix = limit.SubjectPolicyPrefix
)

var (
	NewMemory  = limit.NewMemory
	IPKey      = limit.IPKey
	PolicyName = limit.PolicyName
)

// Off is "no budget" (REQUEST_LIMIT=off, for measurements only).
var Off = Budget{Count: -1}

// ParseBudget reads "COUNT/DURATION" such as "10/1m".
func ParseBudget(v string) (Budget, error) {
	var n int
	var window string
	if _, err := fmt.Sscanf(v, "%d/%s", &n, &window); err != nil || n <= 0 {
		return Budget{}, fmt.Errorf("must be COUNT/DURATION such as 10/1m, got %q", v)
	}
	d, err := time.ParseDuration(window)
	if err != nil || d <= 0 {
		return Budget{}, fmt.Errorf("must be COUNT/DURATION such as 10/1m, got %q", v)
	}
	return Budget{Count: n, Window: d}, nil
}

// Backend says where budgets live: in Redis when Redis is set (so replicas
// share them), in this process otherwise. It is plain configuration; Open
// turns it into a live client once, when a service starts.
type Backend struct {
	Redis  *redis.Options // nil: in memory
	Prefix string         // namespaces the Redis keys
	// Timeout is how long a check waits for Redis before it is decided in
	// memory (REDIS_TIMEOUT; zero: DefaultRedisTimeout).
	Timeout time.Duration
}

// ParseRedisURL reads a redis:// URL ("" means: in memory) into a Backend
// whose keys start with prefix (replicas that share limits use the same one).
func ParseRedisURL(url, prefix string) (Backend, error) {
	if url == "" {
		return Backend{}, nil
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		return Backend{}, errors.New("must be a redis:// URL")
	}
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = time.Second, 500*time.Millisecond, 500*time.Millisecond
	// Each check's own deadline (Backend.Timeout) bounds the dial, the wait
	// for a pooled connection and the answer; a check is not retried (the
	// fallback decides it instead).
	opts.ContextTimeoutEnabled, opts.MaxRetries, opts.DialerRetries = true, -1, 1
	return Backend{Redis: opts, Prefix: prefix}, nil
}

// ParseBudgetOrOff is ParseBudget, with "off" for no budget (Off): for
// measurements only, see REQUEST_LIMIT in docs/operations.md.
func ParseBudgetOrOff(v string) (Budget, error) {
	if v == "off" {
		return Off, nil
	}
	return ParseBudget(v)
}

// RedisURLParser is ParseRedisURL with the prefix fixed, for config.Parse.
func RedisURLParser(prefix string) func(string) (Backend, error) {
	return func(url string) (Backend, error) { return ParseRedisURL(url, prefix) }
}

// Store builds limiters on one backend.
type Store struct {
	client *redis.Client // nil: in memory
	health *redisHealth  // whether that Redis answers
	prefix string
	log    *slog.Logger
	// OnRefuse, when set before limiters are made, is told the budget's name
	// at every refusal (the metrics).
	OnRefuse func(budget string)
}

// Open connects to the backend (lazily: go-redis dials on first use).
func (b Backend) Open(log *slog.Logger) *Store {
	if b.Redis == nil {
		return &Store{log: log}
	}
	quietRedis.Do(func() { redis.SetLogger(redisLog{log}) })
	return &Store{client: redis.NewClient(b.Redis), health: newRedisHealth(log, b.Timeout), prefix: b.Prefix, log: log}
}

// quietRedis: go-redis writes its own unstructured lines to stderr (one per
// failed dial: a line a second while Redis is down); the Store logs the
// outage itself (see redisHealth), so go-redis's lines go to the service's
// log at DEBUG. It is go-redis's one process-wide logger.
var quietRedis sync.Once

type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	if l.log != nil {
		l.log.DebugContext(ctx, "go-redis", "line", fmt.Sprintf(format, v...))
	}
}

// Close releases the Redis connections, if any.
func (s *Store) Close() error {
	if s == nil || s.client == nil {
		return nil
	}
	if err := s.client.Close(); err != nil {
		return fmt.Errorf("close Redis client: %w", err)
	}
	return nil
}

// Requests returns a general request budget named name (one unit per
// request, the least recently seen client forgotten when the in-memory store
// is full), or nil when b is Off.
func (s *Store) Requests(name string, b Budget) Limiter {
	if b == Off {
		return nil
	}
	return s.New(name, b, ForgetOldest)
}

// Counted returns a budget named name whose spent units must not be
// forgotten to make room (an evicted key would get a fresh budget: an
// owner a fresh day of invitations), or nil when b is Off.
func (s *Store) Counted(name string, b Budget) Limiter {
	if b == Off {
		return nil
	}
	return s.New(name, b, FailClosed)
}

// New returns a limiter named name with budget b.
func (s *Store) New(name string, b Budget, full WhenFull) Limiter {
	var l Limiter
	if s.client == nil {
		l = NewMemory(b, DefaultMaxKeys, full)
	} else {
		l = newRedis(s.client, b, s.prefix+name+":", s.health)
	}
	if s.OnRefuse != nil {
		l = &counted{Limiter: l, name: name, refused: s.OnRefuse}
	}
	return l
}

// counted tells OnRefuse about every refusal of its limiter: by Take, and
// by Peek (a door that refuses early, such as register's, never calls Take).
type counted struct {
	Limiter
	name    string
	refused func(budget string)
}

func (c *counted) Take(ctx context.Context, key string) Decision {
	return c.count(c.Limiter.Take(ctx, key))
}

func (c *counted) Peek(ctx context.Context, key string) Decision {
	return c.count(c.Limiter.Peek(ctx, key))
}

func (c *counted) count(d Decision) Decision {
	if !d.Allowed {
		c.refused(c.name)
	}
	return d
}
