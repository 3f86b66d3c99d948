// Package web assembles a listener's router the same way for both services:
// request id, client IP, panic recovery, body limit, no secrets in URLs, health
// endpoints outside the contract, and the API mounted behind its validator.
package web

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/netip"

	"github.com/go-chi/chi/v5"

	"jeeves4service/services/common/httpx"
	"jeeves4service/services/common/problem"
)

// Base is what every listener needs.
type Base struct {
	Log     *slog.Logger
	Trusted []netip.Prefix
	// Ready reports whether the service can do its work (its database answers).
	Ready func(context.Context) error
}

// NewRouter returns a router with the shared middleware, /healthz and /readyz.
// Mount API routes on it inside r.Group, after Use-ing the API's validator.
func NewRouter(b Base) chi.Router {
	r := chi.NewRouter()
	r.Use(httpx.RequestID, httpx.ClientIP(b.Trusted), httpx.Recover(b.Log), httpx.AccessLog(b.Log),
		httpx.RejectSecretsInQuery, httpx.LimitBody(httpx.MaxBodyBytes))
	r.NotFound(httpx.NotFound)
	r.MethodNotAllowed(httpx.MethodNotAllowed)
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.Get("/readyz", func(w http.ResponseWriter, req *http.Request) {
		if b.Ready != nil {
			if err := b.Ready(req.Context()); err != nil {
				b.Log.WarnContext(req.Context(), "not ready", "error", err.Error())
				problem.Write(w, req, problem.New(http.StatusServiceUnavailable, "The service is not ready: its database does not answer."))
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	return r
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
