// Command limit serves the limit (package handler) for make bench, which
// compares internal_get with it.
//
// Environment: LIMIT_ADDR, LIMIT_DATABASE_URL (as the property service's),
// INTERNAL_SERVICE_TOKEN.
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"

	"jeeves4service/services/common/database"
	"jeeves4service/tools/bench/limit/handler"
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
	h, err := handler.New(ctx, db, engine, os.Getenv("INTERNAL_SERVICE_TOKEN"))
	if err != nil {
		return err
	}
	return http.ListenAndServe(os.Getenv("LIMIT_ADDR"), h)
}
