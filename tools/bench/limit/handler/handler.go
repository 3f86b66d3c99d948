// Package handler is the limit: the fastest plain Go can serve the guarded
// internal call, GET /api/internal/properties/users/{user_id}, from the
// service's database with the service's query, prepared once, a
// constant-time X-Internal-Token check and encoding/json, and nothing else:
// no router, no validation, no audit line, no rate limit. It is a yardstick
// (make bench's limit server, and the property service's in-process
// benchmark), never shipped.
package handler

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
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

// New prepares the query on db (of engine) and returns the handler, which
// accepts token only.
func New(ctx context.Context, db *sql.DB, engine database.Engine, token string) (http.Handler, error) {
	query := claims
	if engine == database.SQLite {
		query = strings.NewReplacer("$1", "?", "$2", "?").Replace(query)
	}
	stmt, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	want := sha256.Sum256([]byte(token))
	const prefix = "/api/internal/properties/users/"
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("GET "+prefix+"{user_id}", func(w http.ResponseWriter, r *http.Request) {
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
	return mux, nil
}
