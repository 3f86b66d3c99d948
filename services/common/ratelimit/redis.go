package ratelimit

import (
	"context"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a Limiter shared by every replica using the same Redis. Take and
// Refund are one Lua script each, so check-and-spend is atomic across replicas.
//
// Why not go-redis/redis_rate (used before): its GCRA script cannot give a
// unit back (a refund that leaves the bucket full is silently dropped), and a
// failure budget that successes spend would lock out a busy office's NAT.
type Redis struct {
	budget Budget
	client *redis.Client
	prefix string
	log    *slog.Logger
}

// NewRedis returns a Redis-backed limiter; prefix namespaces its keys.
func NewRedis(client *redis.Client, b Budget, prefix string, log *slog.Logger) *Redis {
	return &Redis{budget: b, client: client, prefix: prefix, log: log}
}

// Budget implements Limiter.
func (r *Redis) Budget() Budget { return r.budget }

// gcraScript is gcra() in Lua, on Redis's clock (so replicas' clocks do not
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
	interval := r.budget.interval().Microseconds()
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

// Take implements Limiter. If Redis does not answer the limiter fails open
// (logged at ERROR): locking every caller out because the counter store is
// down would turn a Redis outage into a full outage.
func (r *Redis) Take(ctx context.Context, key string) Decision {
	d, err := r.run(ctx, key, 1, false)
	if err != nil {
		r.log.ErrorContext(ctx, "rate limit check failed; allowing", "error", err.Error())
		return Decision{Allowed: true, Remaining: r.budget.Count}
	}
	return d
}

// Peek implements Limiter (failing open like Take).
func (r *Redis) Peek(ctx context.Context, key string) Decision {
	d, err := r.run(ctx, key, 1, true)
	if err != nil {
		return Decision{Allowed: true, Remaining: r.budget.Count}
	}
	return d
}

// Refund implements Limiter.
func (r *Redis) Refund(ctx context.Context, key string) {
	if _, err := r.run(context.WithoutCancel(ctx), key, -1, false); err != nil {
		r.log.ErrorContext(ctx, "rate limit refund failed", "error", err.Error())
	}
}
