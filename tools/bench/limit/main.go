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

// claims is sqlc's ListUserClaims (sql/queries/property.sql), the query the
// service runs for this call, written out: at most page_size of the user's
// properties and, counted before the LIMIT, how many there are in all.
const claims = `SELECT p.id, p.name, m.access_level, COUNT(*) OVER () AS total
FROM property_members m
JOIN properties p ON p.id = m.property_id
WHERE m.user_id = $1
ORDER BY p.id
LIMIT CAST($2 AS BIGINT)`

// defaultLimit is the contract's default (and maximum) for ?limit.
const defaultLimit = 1000

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
	query := claims
	if engine == database.SQLite {
		query = strings.NewReplacer("$1", "?", "$2", "?").Replace(query)
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
		limit := int64(defaultLimit)
		if v := r.URL.Query().Get("limit"); v != "" {
			if limit, err = strconv.ParseInt(v, 10, 32); err != nil || limit < 1 || limit > defaultLimit {
				http.Error(w, "bad limit", http.StatusBadRequest)
				return
			}
		}
		rows, err := stmt.QueryContext(r.Context(), id, limit)
		if err != nil {
			http.Error(w, "query failed", http.StatusInternalServerError)
			return
		}
		defer rows.Close()
		out := answer{UserID: id, Properties: []claim{}}
		for rows.Next() {
			var c claim
			var total int64
			if err := rows.Scan(&c.PropertyID, &c.PropertyName, &c.AccessLevel, &total); err != nil {
				http.Error(w, "scan failed", http.StatusInternalServerError)
				return
			}
			out.Properties = append(out.Properties, c)
			out.TotalCount = int(total)
		}
		if rows.Err() != nil {
			http.Error(w, "query failed", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	return http.ListenAndServe(os.Getenv("LIMIT_ADDR"), nil)
}
