// Command households is a third service adopting the internalauth library: one
// internal operation (openapi.yaml) behind the guard its contract configures.
package main

//go:generate go tool -modfile=../../go.mod oapi-codegen -config api/config.yaml openapi.yaml

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/jeeves4service/jeeves4service/examples/households/api"
	"github.com/jeeves4service/jeeves4service/internalauth"
	"github.com/jeeves4service/jeeves4service/internalauth/subject"
)

//go:embed openapi.yaml
var contract []byte // the guard reads who may call what, and for whom, from it

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv); err != nil {
		slog.Error("households service stopped", "err", err)
		os.Exit(1)
	}
}

// run serves until ctx ends, then lets the calls under way finish.
func run(ctx context.Context, getenv func(string) string) error {
	h, err := newHandler(ctx, getenv)
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: getenv("HOUSEHOLDS_ADDR"), Handler: h, ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout: 10 * time.Second} // so Shutdown waits at most that long for the calls under way
	go func() { <-ctx.Done(); _ = srv.Shutdown(context.Background()) }()
	slog.Info("households service listening", "addr", srv.Addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve on HOUSEHOLDS_ADDR %q: %w", srv.Addr, err)
	}
	return nil
}

// newHandler is the whole wiring: the contract, the callers' tokens, the subject tokens' keys, the guard.
func newHandler(ctx context.Context, getenv func(string) string) (http.Handler, error) {
	doc, err := openapi3.NewLoader().LoadFromData(contract) // embedded: its test validates it
	if err != nil {
		return nil, fmt.Errorf("the contract: %w", err)
	}
	tokens, err := internalauth.ParseTokens(getenv("HOUSEHOLDS_TOKENS"))
	if err != nil {
		return nil, fmt.Errorf("HOUSEHOLDS_TOKENS: %w", err)
	}
	if getenv("SUBJECT_JWKS_URL") == "" || getenv("SUBJECT_ISSUER") == "" || len(tokens) == 0 {
		return nil, errors.New("HOUSEHOLDS_TOKENS, SUBJECT_JWKS_URL and SUBJECT_ISSUER are required")
	}
	keys := subject.NewRemoteKeys(getenv("SUBJECT_JWKS_URL"), 5*time.Minute) // the user service's JWKS: Run refreshes it
	go keys.Run(ctx)
	guard, err := internalauth.New(doc,
		internalauth.WithName("households-service"), // the audience of its subject tokens: the exchange's name for it
		internalauth.WithTokens(tokens...),
		internalauth.WithSubjects(subject.NewVerifier(keys, getenv("SUBJECT_ISSUER"))),
		internalauth.WithUnguarded("/healthz"))
	if err != nil {
		return nil, fmt.Errorf("the guard: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(http.ResponseWriter, *http.Request) {}) // 200: it serves
	api.HandlerFromMux(households{}, mux)
	return guard.Handler(mux), nil
}

// households serves getHousehold, behind the guard: the caller is allowed, the subject is user_id.
type households struct{}

func (households) GetHousehold(w http.ResponseWriter, r *http.Request, userID int64) {
	call, _ := internalauth.CallFrom(r.Context())
	slog.InfoContext(r.Context(), "household read", "caller", call.Caller, "user_id", call.Subject)
	// A real service reads its database; here every user lives alone.
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(api.Household{UserId: userID, Members: []int64{userID}}) // a write error is the client's gone
}
