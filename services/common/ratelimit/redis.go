package ratelimit

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a Limiter shared by every replica using the same Redis. Take and
// Refund are one Lua script each, so check-and-spend is atomic across replicas.
// While Redis does not answer within its timeout, each replica holds the
// budgets in memory instead (see local and redisHealth).
//
// Why not go-redis/redis_rate (used before): its GCRA script cannot give a
// unit back (a refund that leaves the bucket full is silently dropped), and a
// failure budget that successes spend would lock out a busy office's NAT.
type Redis struct {
	budget Budget
	client *redis.Client
	prefix string
	// health is shared by the limiters of one Store (one Redis). local is
	// this process's share of every key's budget: the units its own checks
	// spent (in an LRU that forgets its oldest key when full: Redis holds
	// the budget, the share only backs it). A check must pass both, so
	// when Redis stops answering the share goes on from where this process's
	// clients were rather than from a full budget, and a burst that makes
	// Redis slow cannot win a fresh budget.
	health *redisHealth
	local  *Memory
}

func newRedis(client *redis.Client, b Budget, prefix string, health *redisHealth) *Redis {
	return &Redis{budget: b, client: client, prefix: prefix, health: health, local: NewMemory(b, DefaultMaxKeys, ForgetOldest)}
}

// Budget implements Limiter.
func (r *Redis) Budget() Budget { return r.budget }

// gcraScript is limit.GCRA in Lua, on Redis's clock (so replicas' clocks do not
// matter): KEYS[1] holds the tat in microseconds; ARGV: interval and limit in
// microseconds, cost (1 or -1), and 1 to only look (Peek: nothing is stored).
// It returns {allowed, remaining, retry_us, reset_us}.
var gcraScript = redis.NewScript(`
local interval = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local peek = ARGV[4] == "1"
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call("GET", KEYS[1]) or "0")
if tat < now then tat = now end
local nxt = tat + cost * interval
local ahead = nxt - now
if cost > 0 and ahead > limit then
  return {0, 0, ahead - limit, tat - now}
end
if peek then
  return {1, math.floor(math.max(limit - ahead, 0) / interval), 0, math.max(ahead, 0)}
end
if ahead <= 0 then
  redis.call("DEL", KEYS[1])
  return {1, math.floor(limit / interval), 0, 0}
end
redis.call("SET", KEYS[1], nxt, "PX", math.ceil(ahead / 1000))
return {1, math.floor((limit - ahead) / interval), 0, ahead}
`)

func (r *Redis) run(ctx context.Context, key string, cost int, peek bool) (Decision, error) {
	interval := r.budget.Interval().Microseconds()
	look := 0
	if peek {
		look = 1
	}
	res, err := gcraScript.Run(ctx, r.client, []string{r.prefix + key},
		interval, interval*int64(r.budget.Count), cost, look).Int64Slice()
	if err != nil {
		return Decision{}, err
	}
	return Decision{Allowed: res[0] == 1, Remaining: int(res[1]),
		RetryAfter: time.Duration(res[2]) * time.Microsecond, Reset: time.Duration(res[3]) * time.Microsecond}, nil
}

// Take implements Limiter. The unit is spent in this process's share of
// the budget first (see Redis), then in Redis: a check is allowed only if
// both allow it, and decided by the share alone while Redis does not answer
// (see redisHealth). It never fails open.
func (r *Redis) Take(ctx context.Context, key string) Decision {
	local := r.local.Take(ctx, key)
	if !local.Allowed {
		return local
	}
	d, ok := r.ask(ctx, key, 1, false)
	if !ok {
		return local
	}
	if !d.Allowed {
		r.local.Refund(ctx, key) // refused: the share gives back what it took
	}
	return d
}

// Peek implements Limiter, like Take without spending.
func (r *Redis) Peek(ctx context.Context, key string) Decision {
	local := r.local.Peek(ctx, key)
	if !local.Allowed {
		return local
	}
	if d, ok := r.ask(ctx, key, 1, true); ok {
		return d
	}
	return local
}

// Refund implements Limiter: the unit goes back to both.
func (r *Redis) Refund(ctx context.Context, key string) {
	r.local.Refund(ctx, key)
	r.ask(ctx, key, -1, false)
}

// ask runs the script in Redis within the health's timeout; ok is false
// when Redis is known to be down or does not answer in time. The caller's
// cancellation does not end the call (a client that hangs up must not get
// another answer), the timeout does.
func (r *Redis) ask(ctx context.Context, key string, cost int, peek bool) (d Decision, ok bool) {
	use, probe := r.health.usable()
	if !use {
		return Decision{}, false
	}
	call, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.health.timeout)
	d, err := r.run(call, key, cost, peek)
	cancel()
	if err != nil {
		r.health.failed(ctx, err, probe)
		return Decision{}, false
	}
	r.health.answered(ctx, probe)
	return d, true
}
