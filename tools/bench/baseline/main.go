// Command baseline serves the property service's own handlers without the
// layer a `make bench` scenario measures, as that scenario's baseline (never
// shipped): on BASELINE_INTERNAL_ADDR the internal operation mounted bare (no
// validator, token guard, budget or audit line); on BASELINE_PUBLIC_ADDR the
// public listener exactly as served, except that the caller's claims
// (user BASELINE_USER_ID) are injected instead of a JWT being verified.
// BASELINE_DATABASE_URL is the property service's database.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
	"github.com/jeeves4service/jeeves4service/services/common/listener"
	"github.com/jeeves4service/jeeves4service/services/common/router"
	"github.com/jeeves4service/jeeves4service/services/property"
	"github.com/jeeves4service/jeeves4service/services/property/adapters"
	"github.com/jeeves4service/jeeves4service/services/property/app"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx := context.Background()
	repo, _, err := adapters.Open(ctx, os.Getenv("BASELINE_DATABASE_URL"), nil)
	if err != nil {
		return err
	}
	userID, err := strconv.ParseInt(os.Getenv("BASELINE_USER_ID"), 10, 64)
	if err != nil {
		return fmt.Errorf("BASELINE_USER_ID: %w", err)
	}
	svc := &app.Service{Repo: repo}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	internal := chi.NewRouter()
	internal.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	property.MountInternal(internal, svc, log)
	inject := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(jwtauth.WithClaims(r.Context(), &jwtauth.Claims{UserID: userID})))
		})
	}
	public, err := property.PublicHandler(router.Base{Log: log}, svc, inject)
	if err != nil {
		return err
	}
	srv, err := listener.Listen(log, &listener.Listener{Name: "internal", Addr: os.Getenv("BASELINE_INTERNAL_ADDR"), Handler: internal},
		&listener.Listener{Name: "public", Addr: os.Getenv("BASELINE_PUBLIC_ADDR"), Handler: public})
	if err != nil {
		return err
	}
	return srv.Serve(ctx)
}
