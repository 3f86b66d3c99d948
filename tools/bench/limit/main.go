// Command limit is the fastest plain Go can serve the guarded internal call:
// `make bench` compares internal_get with it. It answers
// GET /api/internal/properties/users/{user_id} from the same database file
// with the same query, prepared once, a constant-time X-Internal-Token check
// and encoding/json, and nothing else: no router, no validation, no audit
// line, no rate limit. It is a yardstick, never shipped.
//
// Environment: LIMIT_ADDR, LIMIT_DATABASE_URL (as the property service's),
// INTERNAL_SERVICE_TOKEN.
package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"

	"jeeves4service/services/common/database"
)

// memberships is sqlc's ListMemberships (sql/queries/property.sql), the
// query the service runs, written out.
const memberships = `SELECT p.id, p.name, p.address, p.created_at, m.access_level
FROM property_members m JOIN properties p ON p.id = m.property_id
WHERE m.user_id = $1 ORDER BY p.id`

type claim struct {
	PropertyID   int64  `json:"property_id"`
	PropertyName string `json:"property_name"`
	AccessLevel  string `json:"access_level"`
}

type answer struct {
	UserID     int64   `json:"user_id"`
	Properties []claim `json:"properties"`
	TotalCount int     `json:"total_count"`
}

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
	query := memberships
	if engine == database.SQLite {
		query = strings.Replace(query, "$1", "?", 1)
	}
	stmt, err := db.PrepareContext(ctx, query)
	if err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	want := sha256.Sum256([]byte(os.Getenv("INTERNAL_SERVICE_TOKEN")))
	const prefix = "/api/internal/properties/users/"
	http.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	http.HandleFunc("GET "+prefix+"{user_id}", func(w http.ResponseWriter, r *http.Request) {
		got := sha256.Sum256([]byte(r.Header.Get("X-Internal-Token")))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		id, err := strconv.ParseInt(r.PathValue("user_id"), 10, 64)
		if err != nil || id < 1 {
			http.Error(w, "bad user_id", http.StatusBadRequest)
			return
		}
		rows, err := stmt.QueryContext(r.Context(), id)
		if err != nil {
			http.Error(w, "query failed", http.StatusInternalServerError)
			return
		}
		defer rows.Close()
		out := answer{UserID: id, Properties: []claim{}}
		for rows.Next() {
			var c claim
			var address string
			var created int64
			if err := rows.Scan(&c.PropertyID, &c.PropertyName, &address, &created, &c.AccessLevel); err != nil {
				http.Error(w, "scan failed", http.StatusInternalServerError)
				return
			}
			out.Properties = append(out.Properties, c)
		}
		out.TotalCount = len(out.Properties)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	return http.ListenAndServe(os.Getenv("LIMIT_ADDR"), nil)
}
