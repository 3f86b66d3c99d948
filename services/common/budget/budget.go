// Package budget answers "what limits this request": the HTTP side of the
// budgets in package ratelimit. A budget is spent per request (Spend, and the
// keys of the two kinds: PerClient on public listeners, PerCaller on internal
// ones), the budget that governs a request writes its RateLimit fields on the
// response (Fields), and a public listener holds its refusals for a while
// (HoldRefusals). The failure budgets of doors that check a secret (login,
// the internal credential) are spent by those doors, with the same limiters.
package budget

import (
	"net/http"
	"strconv"
	"sync"

	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
	"github.com/jeeves4service/jeeves4service/services/common/problem"
	"github.com/jeeves4service/jeeves4service/services/common/ratelimit"
	"github.com/jeeves4service/jeeves4service/services/common/reqinfo"
)

// PerClient is the general request budget of a public listener: one unit
// per request from each client, the verified user of an authenticated call
// or the client IP otherwise (per /64 for IPv6, see ratelimit.IPKey; the
// bearer token is verified before, by the middleware ahead of it). A nil
// limiter means no budget.
func PerClient(l ratelimit.Limiter) func(http.Handler) http.Handler {
	if l == nil {
		return func(next http.Handler) http.Handler { return next }
	}
	return Spend(l, "requests", client)
}

// client is whose request budget a request spends.
func client(r *http.Request) string {
	if c := jwtauth.FromContext(r.Context()); c != nil {
		return "user:" + strconv.FormatInt(c.UserID, 10)
	}
	return ratelimit.IPKey(reqinfo.ClientIP(r.Context()))
}

// Left says, without spending, whether the request's client has some of its
// request budget left (always, with no budget): jwtauth.FetchKeys asks
// before a token of a key not held may cost a JWKS fetch.
func Left(l ratelimit.Limiter) func(*http.Request) bool {
	return func(r *http.Request) bool { return l == nil || l.Peek(r.Context(), client(r)).Allowed }
}

// PerCaller spends the request budget of the internal caller the credential
// named (so it runs after the credential is checked); nil: no budget.
func PerCaller(l ratelimit.Limiter) func(http.Handler) http.Handler {
	if l == nil {
		return func(next http.Handler) http.Handler { return next }
	}
	return Spend(l, "requests", func(r *http.Request) string { return "caller:" + reqinfo.From(r.Context()).Caller })
}

// Spend spends one unit of a general request budget per client on every
// request it wraps (check and spend in one step: see package ratelimit),
// answers 429 with Retry-After past it, and makes itself the budget that
// governs the request: its state goes out on the response in the
// RateLimit-Policy and RateLimit fields (Fields). key names the
// client: the verified user of an authenticated call, the client IP
// otherwise, the caller of an internal call. name is the policy's name in
// the headers.
func Spend(l ratelimit.Limiter, name string, key func(*http.Request) string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			d := l.Take(r.Context(), key(r))
			reqinfo.From(r.Context()).RateLimit = ratelimit.Governing{Name: name, Budget: l.Budget(), Decision: d}
			if !d.Allowed {
				problem.SetRetryAfter(w, d.RetryAfter)
				problem.Write(w, r, problem.New(http.StatusTooManyRequests, "Too many requests; try again later."))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// Fields writes the RateLimit-Policy and RateLimit fields of the
// budget that governs the request (reqinfo's RateLimit, recorded by Spend
// and the token guard's failure budget) on every response, just before its
// status line: success, refusal or problem alike. A generated typed
// response writes them itself, from the value its handler copied; they are
// not written twice. A request without a governing budget gets none.
func Fields(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bw := budgetWriters.Get().(*budgetWriter)
		*bw = budgetWriter{ResponseWriter: w, info: reqinfo.From(r.Context())}
		next.ServeHTTP(bw, r)
		*bw = budgetWriter{} // no reference to this request stays in the pool
		budgetWriters.Put(bw)
	})
}

// budgetWriters recycles the writers: a handler may not use its
// ResponseWriter once ServeHTTP has returned (net/http's rule), so one
// can serve the next request.
var budgetWriters = sync.Pool{New: func() any { return new(budgetWriter) }}

type budgetWriter struct {
	http.ResponseWriter
	info    *reqinfo.Info
	started bool
}

func (b *budgetWriter) start() {
	if !b.started {
		b.started = true
		b.info.RateLimit.SetHeaders(b.ResponseWriter.Header())
	}
}

func (b *budgetWriter) WriteHeader(status int) {
	if status >= 200 { // an informational response is not the response
		b.start()
	}
	b.ResponseWriter.WriteHeader(status)
}

func (b *budgetWriter) Write(p []byte) (int, error) {
	b.start()
	return b.ResponseWriter.Write(p)
}

func (b *budgetWriter) Unwrap() http.ResponseWriter { return b.ResponseWriter }

// HoldRefusals holds every 429 the wrapped handler answers in t before it is
// sent (see ratelimit.Tarpit), keyed by the client IP (ratelimit.IPKey), so that a client
// flooding a door whose budget it has spent waits instead of asking again at
// once. A refusal the tarpit has no room for goes out at once and closes the
// connection. nil: refusals go out at once.
func HoldRefusals(t *ratelimit.Tarpit) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if t == nil {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(&refusalHolder{ResponseWriter: w, r: r, tarpit: t}, r)
		})
	}
}

type refusalHolder struct {
	http.ResponseWriter
	r       *http.Request
	tarpit  *ratelimit.Tarpit
	started bool
}

func (h *refusalHolder) WriteHeader(status int) {
	if status == http.StatusTooManyRequests && !h.started {
		if !h.tarpit.Hold(h.r.Context(), ratelimit.IPKey(reqinfo.ClientIP(h.r.Context()))) {
			h.Header().Set("Connection", "close")
		}
	}
	h.started = true
	h.ResponseWriter.WriteHeader(status)
}

func (h *refusalHolder) Write(b []byte) (int, error) {
	h.started = true
	return h.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (h *refusalHolder) Unwrap() http.ResponseWriter { return h.ResponseWriter }
