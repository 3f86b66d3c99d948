// Package limit bounds what one key (a client address, a caller, a user)
// may do per window. A budget is spent atomically before the guarded work
// (Take: check and spend in one step), so however many requests arrive at
// once, a key never gets more attempts than its budget; an attempt that
// turned out fine may give its unit back (Refund).
//
// One algorithm (GCRA, the generic cell rate algorithm: one timestamp per
// key) decides. Memory keeps the timestamps in a bounded LRU, O(1) per call;
// a store shared by replicas implements Limiter with the same arithmetic
// (GCRA), so that a budget means the same thing wherever it is kept.
package limit

import (
	"context"
	"fmt"
	"time"
)

// Budget is how many units a key may spend per Window (spent units come back
// evenly over the window: one every Window/Count).
type Budget struct {
	Count  int
	Window time.Duration
}

// Interval is how long one spent unit takes to come back.
func (b Budget) Interval() time.Duration { return b.Window / time.Duration(b.Count) }

// Or returns b, or def when b is unset (the zero Budget).
func (b Budget) Or(def Budget) Budget {
	if b == (Budget{}) {
		return def
	}
	return b
}

func (b Budget) String() string { return fmt.Sprintf("%d/%s", b.Count, b.Window) }

// Decision is the answer to Take.
type Decision struct {
	// Allowed: a unit was spent and the work may go ahead.
	Allowed bool
	// Remaining units after this one.
	Remaining int
	// RetryAfter, when refused, is when the next unit comes back.
	RetryAfter time.Duration
	// Reset is when the whole budget is back (for RateLimit fields).
	Reset time.Duration
}

// Limiter spends and refunds units of per-key budgets.
type Limiter interface {
	// Take spends one unit of key's budget if one is left, atomically.
	Take(ctx context.Context, key string) Decision
	// Refund gives back one unit that Take spent (the attempt succeeded).
	Refund(ctx context.Context, key string)
	// Peek says what Take would, without spending: a cheap early refusal
	// for a key whose budget is already spent.
	Peek(ctx context.Context, key string) Decision
	// Budget is what each key may spend.
	Budget() Budget
}

// GCRA is the whole algorithm, for any store of one timestamp per key. tat
// is the key's "theoretical arrival time": the moment its budget would be
// full again. Spending a unit (cost 1) moves it one interval later, a
// refund (cost -1) one earlier; a key may run at most Count intervals ahead
// of now. It returns the new tat (zero: nothing to store, the key is full)
// and the decision.
func GCRA(b Budget, tat, now time.Time, cost int) (time.Time, Decision) {
	interval := b.Interval()
	limit := time.Duration(b.Count) * interval
	if tat.Before(now) {
		tat = now
	}
	next := tat.Add(time.Duration(cost) * interval)
	ahead := next.Sub(now)
	if cost > 0 && ahead > limit {
		return tat, Decision{Allowed: false, RetryAfter: ahead - limit, Reset: tat.Sub(now)}
	}
	if ahead <= 0 {
		return time.Time{}, Decision{Allowed: true, Remaining: b.Count}
	}
	return next, Decision{Allowed: true, Remaining: int((limit - ahead) / interval), Reset: ahead}
}

// Unlimited is the Limiter that allows everything. It is how a budget is
// switched off on purpose (for a measurement, or when something in front
// already bounds it): leaving a budget out of an option list gets its safe
// default, never this.
var Unlimited Limiter = unlimited{}

type unlimited struct{}

func (unlimited) Take(context.Context, string) Decision { return Decision{Allowed: true, Remaining: 1} }
func (unlimited) Refund(context.Context, string)        {}
func (unlimited) Peek(context.Context, string) Decision { return Decision{Allowed: true, Remaining: 1} }
func (unlimited) Budget() Budget                        { return Budget{} }

// IsUnlimited reports whether l is Unlimited.
func IsUnlimited(l Limiter) bool { _, ok := l.(unlimited); return ok }
