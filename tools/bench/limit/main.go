// Command limit serves the limit (package handler) for make bench, which
// compares internal_get with it, and make bench-instructions.
//
// Environment: LIMIT_ADDR, LIMIT_DATABASE_URL (as the property service's),
// INTERNAL_SERVICE_TOKEN; LIMIT_AUDIT=off drops the slog audit line (JSON, to
// stderr) written for every accepted call; LIMIT_JWKS_URL (the user
// service's JWKS, read once) makes the internal call require a subject token
// signed with its key, as the shipped service does, and also serves
// GET /api/properties/ for its access tokens, issued by and for
// LIMIT_JWT_ISSUER (default jeeves4service).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"github.com/jeeves4service/jeeves4service/services/common/database"
	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
	"github.com/jeeves4service/jeeves4service/tools/bench/limit/handler"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "limit:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx := context.Background()
	// database.Open gives the same driver, pragmas and pool as the service.
	db, engine, err := database.Open(ctx, os.Getenv("LIMIT_DATABASE_URL"), "property", nil)
	if err != nil {
		return err
	}
	var opts []handler.Option
	if os.Getenv("LIMIT_AUDIT") != "off" {
		opts = append(opts, handler.Audit(slog.New(slog.NewJSONHandler(os.Stderr, nil))))
	}
	if u := os.Getenv("LIMIT_JWKS_URL"); u != "" {
		key, err := firstKey(u)
		if err != nil {
			return err
		}
		issuer := os.Getenv("LIMIT_JWT_ISSUER")
		if issuer == "" {
			issuer = "jeeves4service"
		}
		opts = append(opts, handler.PublicKey(key, issuer))
	}
	h, err := handler.New(ctx, db, engine, os.Getenv("INTERNAL_SERVICE_TOKEN"), opts...)
	if err != nil {
		return err
	}
	return http.ListenAndServe(os.Getenv("LIMIT_ADDR"), h)
}

// firstKey reads the first Ed25519 key of the JWKS at url.
func firstKey(url string) ([]byte, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	defer resp.Body.Close()
	var set jwtauth.JWKS
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		return nil, fmt.Errorf("JWKS %s: %w", url, err)
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("JWKS %s: no keys", url)
	}
	return jwtauth.ParseJWK(set.Keys[0])
}
