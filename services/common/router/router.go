// Package router assembles a listener's router the same way for every listener
// of both services: the shared middleware (package middleware), health endpoints
// and docs outside the contract, problem+json for unknown routes, and the API
// mounted behind the validator built from its contract.
package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"golang.org/x/sync/singleflight"

	"github.com/jeeves4service/jeeves4service/services/common/budget"
	"github.com/jeeves4service/jeeves4service/services/common/listener"
	"github.com/jeeves4service/jeeves4service/services/common/middleware"
	"github.com/jeeves4service/jeeves4service/services/common/problem"
	"github.com/jeeves4service/jeeves4service/services/common/ratelimit"
)

// Base is what every listener needs.
type Base struct {
	Log     *slog.Logger
	Trusted []netip.Prefix
	// Ready reports whether the service can do its work: every listener of the
	// service accepts connections (listener.Server.Accepting) and its database answers.
	Ready func(context.Context) error
	// CORS is the listener's cross-origin policy (public listeners); nil: none.
	CORS func(http.Handler) http.Handler
	// Observe records every request in the metrics (nil: not recorded).
	Observe middleware.Observer
	// Trace makes the server span of every request (nil: tracing off).
	Trace func(http.Handler) http.Handler
	// Tarpit holds the listener's 429s (public listeners; nil: none).
	Tarpit *ratelimit.Tarpit
	// Requests is the request budget per client IP of the routes outside the
	// contract: the docs page, the contracts, unknown paths and methods (nil:
	// none). Public listeners pass their general request budget, so that a
	// client's docs and its unauthenticated API calls spend one budget.
	Requests ratelimit.Limiter
}

// NewRouter returns a router with the shared middleware, /healthz and /readyz.
// Mount API routes on it inside r.Group, after Use-ing the API's validator.
//
// Every route but the two health endpoints spends b.Requests (the API's
// routes spend the budget their group Uses instead). The health endpoints
// stay outside any budget: a prober (the kubelet, a load balancer) shares
// its address with whatever else runs there, and a budget spent by a
// neighbour would fail the probe and take the replica out; and their
// answers cost no more than the 429 that would refuse them, /readyz's
// database ping being shared by every check within readinessReuse.
func NewRouter(b Base) chi.Router {
	r := chi.NewRouter()
	if b.Trace != nil {
		r.Use(b.Trace) // first: the access line carries the span's trace id
	}
	// HoldRefusals inside AccessLog: a held refusal's line shows the time it was held.
	r.Use(middleware.RequestID, middleware.ClientIP(b.Trusted), middleware.Recover(b.Log), middleware.AccessLog(b.Log, b.Observe),
		budget.HoldRefusals(b.Tarpit), middleware.NoSniff)
	if b.CORS != nil {
		r.Use(b.CORS) // before routing: a preflight is answered here
	}
	outside := OutsideBudget(b)
	r.NotFound(outside(notFoundIn(r)).ServeHTTP)
	r.MethodNotAllowed(outside(http.HandlerFunc(methodNotAllowed)).ServeHTTP)
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	ready := &readiness{check: b.Ready}
	r.Get("/readyz", func(w http.ResponseWriter, req *http.Request) {
		if b.Ready != nil {
			if err := ready.Check(req.Context()); err != nil {
				b.Log.WarnContext(req.Context(), "not ready", "error", err.Error())
				problem.Write(w, req, problem.New(http.StatusServiceUnavailable, notReadyDetail(err)))
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	return r
}

// notReadyDetail says what /readyz found wrong, without the error's details
// (which name addresses and files; they are in the WARN line).
func notReadyDetail(err error) string {
	var listener *listener.NotAcceptingError
	if errors.As(err, &listener) {
		return "The service is not ready: a listener cannot accept connections."
	}
	return "The service is not ready: its database does not answer."
}

// OutsideBudget is the budget of b's routes outside the contract: b.Requests
// per client IP, its fields on every answer.
func OutsideBudget(b Base) func(http.Handler) http.Handler {
	perClient := budget.PerClient(b.Requests)
	return func(next http.Handler) http.Handler { return budget.Fields(perClient(next)) }
}

// How long a readiness answer is reused, and how long one look may take.
const (
	readinessReuse   = 250 * time.Millisecond
	readinessTimeout = 5 * time.Second
)

// readiness shares one look at the database between every check made while
// it runs or within readinessReuse after, so that a flood of /readyz (it is
// outside the budgets) costs the database at most a few pings a second.
type readiness struct {
	check func(context.Context) error
	group singleflight.Group

	mu  sync.Mutex
	at  time.Time
	err error
}

// Check returns the last look's answer if it is recent, else the answer of
// the look in flight or of a new one; a caller that gives up stops waiting,
// not the look, which others may be waiting for too.
func (r *readiness) Check(ctx context.Context) error {
	r.mu.Lock()
	if time.Since(r.at) < readinessReuse {
		err := r.err
		r.mu.Unlock()
		return err
	}
	r.mu.Unlock()
	look := r.group.DoChan("", func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readinessTimeout)
		defer cancel()
		err := r.check(ctx)
		r.mu.Lock()
		r.at, r.err = time.Now(), err
		r.mu.Unlock()
		return nil, err
	})
	select {
	case res := <-look:
		return res.Err
	case <-ctx.Done():
		return fmt.Errorf("readiness check: %w", ctx.Err())
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ParamErrorHandler answers the generated chi wrappers' parameter errors.
func ParamErrorHandler(w http.ResponseWriter, r *http.Request, _ error) {
	problem.Write(w, r, problem.New(http.StatusBadRequest, "The request does not match the API contract."))
}

// notFound and methodNotAllowed answer unknown routes with problems, not text.
func notFound(w http.ResponseWriter, r *http.Request) {
	problem.Write(w, r, problem.New(http.StatusNotFound, "No such resource."))
}

// notFoundIn answers an unknown route of routes. A path that a route has
// with the trailing slash added or removed (POST /api/properties, where the
// collection is /api/properties/) stays a 404, never a redirect (a client
// need not repeat a POST's body after one, and paths are the contract's),
// but its problem names the route's path: the pattern, never the client's
// own path, is what it quotes.
func notFoundIn(routes chi.Routes) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		twin := r.URL.Path + "/"
		if strings.HasSuffix(r.URL.Path, "/") {
			twin = strings.TrimSuffix(r.URL.Path, "/")
		}
		if pattern := routes.Find(chi.NewRouteContext(), r.Method, twin); twin != "" && pattern != "" {
			problem.Write(w, r, problem.New(http.StatusNotFound,
				fmt.Sprintf("No such resource: the path is %s %s (the trailing slash matters).", r.Method, pattern)))
			return
		}
		notFound(w, r)
	}
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	problem.Write(w, r, problem.New(http.StatusMethodNotAllowed, "This method is not allowed here."))
}
