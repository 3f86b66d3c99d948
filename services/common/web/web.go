// Package web assembles a listener's router the same way for every listener
// of both services: the shared middleware (package httpx), health endpoints
// and docs outside the contract, problem+json for unknown routes, and the API
// mounted behind the validator built from its contract.
package web

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"

	"github.com/go-chi/chi/v5"

	"jeeves4service/services/common/httpx"
	"jeeves4service/services/common/problem"
	"jeeves4service/services/common/ratelimit"
)

// Base is what every listener needs.
type Base struct {
	Log     *slog.Logger
	Trusted []netip.Prefix
	// Ready reports whether the service can do its work: every listener of the
	// service accepts connections (httpx.Server.Accepting) and its database answers.
	Ready func(context.Context) error
	// CORS is the listener's cross-origin policy (public listeners); nil: none.
	CORS func(http.Handler) http.Handler
	// Observe records every request in the metrics (nil: not recorded).
	Observe httpx.Observer
	// Trace makes the server span of every request (nil: tracing off).
	Trace func(http.Handler) http.Handler
	// Tarpit holds the listener's 429s (public listeners; nil: none).
	Tarpit *ratelimit.Tarpit
}

// NewRouter returns a router with the shared middleware, /healthz and /readyz.
// Mount API routes on it inside r.Group, after Use-ing the API's validator.
func NewRouter(b Base) chi.Router {
	r := chi.NewRouter()
	if b.Trace != nil {
		r.Use(b.Trace) // first: the access line carries the span's trace id
	}
	// HoldRefusals inside AccessLog: a held refusal's line shows the time it was held.
	r.Use(httpx.RequestID, httpx.ClientIP(b.Trusted), httpx.Recover(b.Log), httpx.AccessLog(b.Log, b.Observe),
		httpx.HoldRefusals(b.Tarpit), httpx.NoSniff)
	if b.CORS != nil {
		r.Use(b.CORS) // before routing: a preflight is answered here
	}
	r.NotFound(notFound)
	r.MethodNotAllowed(methodNotAllowed)
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.Get("/readyz", func(w http.ResponseWriter, req *http.Request) {
		if b.Ready != nil {
			if err := b.Ready(req.Context()); err != nil {
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
	var listener *httpx.NotAcceptingError
	if errors.As(err, &listener) {
		return "The service is not ready: a listener cannot accept connections."
	}
	return "The service is not ready: its database does not answer."
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

func methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	problem.Write(w, r, problem.New(http.StatusMethodNotAllowed, "This method is not allowed here."))
}
