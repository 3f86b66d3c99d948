// Package handler is the limit: the plainest Go that answers the guarded
// internal call, GET /api/internal/properties/users/{user_id}, from the
// service's database: one prepared query that reads the user's rows straight
// from the (user_id, property_id) index (no window, no sort), a second only
// when the page is full, a constant-time X-Internal-Token check,
// encoding/json and, when given a logger (Audit), one slog line per accepted
// call. No router, no validation, no rate limit. With PublicKey the internal
// call also needs the X-Subject-Token the shipped service requires (issue
// 29), verified the plainest way: golang-jwt, EdDSA, typ subject+jwt, the
// issuer, aud the property service, op the operation, azp the user service,
// exp within the subject token's leeway, sub equal to user_id; and it
// answers GET /api/properties/ for a bearer token verified with golang-jwt
// (EdDSA), the bare handler make bench-instructions holds public_read
// against. It is a yardstick (make bench's and make bench-instructions'
// limit server, and the property service's in-process benchmark), never
// shipped.
package handler

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jeeves4service/jeeves4service/services/common/database"
)

// claims reads at most $2 of the user's properties in property id order
// from the (user_id, property_id) index.
const claims = `SELECT p.id, p.name, m.access_level
FROM property_members m
JOIN properties p ON p.id = m.property_id
WHERE m.user_id = $1
ORDER BY m.property_id
LIMIT CAST($2 AS BIGINT)`

// count is how many properties the user has in all, asked only when the
// page is full.
const count = `SELECT COUNT(*) FROM property_members WHERE user_id = $1`

// page is the public read's first page: at most 100 properties by id.
const page = `SELECT p.id, p.name, p.address, p.created_at, m.access_level
FROM property_members m
JOIN properties p ON p.id = m.property_id
WHERE m.user_id = $1
ORDER BY m.property_id
LIMIT 100`

// What a subject token for this call must say (the contract's operationId,
// the service names of token mode).
const (
	subjectAudience  = "property-service"
	subjectOperation = "getUserProperties"
	subjectCaller    = "user-service"
)

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

type property struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Address     string `json:"address"`
	CreatedAt   int64  `json:"created_at"`
	AccessLevel string `json:"access_level"`
}

// Option adds to the limit what a scenario holds the service against.
type Option func(*options)

type options struct {
	audit     *slog.Logger
	publicKey ed25519.PublicKey
	issuer    string
}

// Audit writes one slog line to log for every accepted call.
func Audit(log *slog.Logger) Option { return func(o *options) { o.audit = log } }

// PublicKey serves GET /api/properties/ for bearer tokens signed with key,
// issued by and for issuer (the services' JWT_ISSUER and JWT_AUDIENCE).
func PublicKey(key ed25519.PublicKey, issuer string) Option {
	return func(o *options) { o.publicKey, o.issuer = key, issuer }
}

// New prepares the queries on db (of engine) and returns the handler, which
// accepts token only.
func New(ctx context.Context, db *sql.DB, engine database.Engine, token string, opts ...Option) (http.Handler, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	prepare := func(query string) (*sql.Stmt, error) {
		if engine == database.SQLite {
			query = strings.NewReplacer("$1", "?", "$2", "?").Replace(query)
		}
		stmt, err := db.PrepareContext(ctx, query)
		if err != nil {
			return nil, fmt.Errorf("prepare %q: %w", query, err)
		}
		return stmt, nil
	}
	claimsStmt, err := prepare(claims)
	if err != nil {
		return nil, err
	}
	countStmt, err := prepare(count)
	if err != nil {
		return nil, err
	}
	want := sha256.Sum256([]byte(token))
	subjects := subjectVerifier(o)
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
		var jti string
		if subjects != nil {
			if jti, err = subjects(r.Header.Get("X-Subject-Token"), id); err != nil {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		limit := int64(defaultLimit)
		if v := r.URL.Query().Get("limit"); v != "" {
			if limit, err = strconv.ParseInt(v, 10, 32); err != nil || limit < 1 || limit > defaultLimit {
				http.Error(w, "bad limit", http.StatusBadRequest)
				return
			}
		}
		out := answer{UserID: id, Properties: []claim{}}
		if err := scan(r.Context(), claimsStmt, func(rows *sql.Rows) error {
			var c claim
			err := rows.Scan(&c.PropertyID, &c.PropertyName, &c.AccessLevel)
			out.Properties = append(out.Properties, c)
			return err
		}, id, limit+1); err != nil {
			http.Error(w, "query failed", http.StatusInternalServerError)
			return
		}
		out.TotalCount = len(out.Properties)
		if int64(len(out.Properties)) > limit {
			out.Properties = out.Properties[:limit]
			if err := countStmt.QueryRowContext(r.Context(), id).Scan(&out.TotalCount); err != nil {
				http.Error(w, "query failed", http.StatusInternalServerError)
				return
			}
		}
		if o.audit != nil {
			o.audit.LogAttrs(r.Context(), slog.LevelInfo, "internal call", slog.String("caller", subjectCaller),
				slog.String("route", prefix+"{user_id}"), slog.Int64("subject", id), slog.String("jti", jti),
				slog.Int("status", http.StatusOK))
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	if o.publicKey != nil {
		pageStmt, err := prepare(page)
		if err != nil {
			return nil, err
		}
		parser := jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}), jwt.WithIssuer(o.issuer),
			jwt.WithAudience(o.issuer), jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(30*time.Second))
		key := func(*jwt.Token) (any, error) { return o.publicKey, nil }
		mux.HandleFunc("GET /api/properties/", func(w http.ResponseWriter, r *http.Request) {
			var c struct {
				jwt.RegisteredClaims
				UserID int64 `json:"user_id"`
			}
			bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			if _, err := parser.ParseWithClaims(bearer, &c, key); err != nil {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			out := struct {
				Properties []property `json:"properties"`
			}{Properties: []property{}}
			if err := scan(r.Context(), pageStmt, func(rows *sql.Rows) error {
				var p property
				err := rows.Scan(&p.ID, &p.Name, &p.Address, &p.CreatedAt, &p.AccessLevel)
				out.Properties = append(out.Properties, p)
				return err
			}, c.UserID); err != nil {
				http.Error(w, "query failed", http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(out)
		})
	}
	return mux, nil
}

// subjectClaims are a subject token's claims (jwtauth.SubjectClaims, written
// out here so that the limit depends on golang-jwt alone).
type subjectClaims struct {
	jwt.RegisteredClaims
	Operation       string `json:"op"`
	AuthorizedParty string `json:"azp"`
}

// subjectVerifier returns the check of a subject token for user id (its
// jti, or why it is refused), or nil without a key.
func subjectVerifier(o options) func(token string, id int64) (string, error) {
	if o.publicKey == nil {
		return nil
	}
	parser := jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}), jwt.WithIssuer(o.issuer),
		jwt.WithAudience(subjectAudience), jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(5*time.Second))
	key := func(t *jwt.Token) (any, error) {
		if typ, _ := t.Header["typ"].(string); typ != "subject+jwt" {
			return nil, fmt.Errorf("typ %q is not subject+jwt", typ)
		}
		return o.publicKey, nil
	}
	return func(token string, id int64) (string, error) {
		var c subjectClaims
		if _, err := parser.ParseWithClaims(token, &c, key); err != nil {
			return "", fmt.Errorf("subject token: %w", err)
		}
		switch {
		case c.Operation != subjectOperation || c.AuthorizedParty != subjectCaller || c.ID == "":
			return "", errors.New("subject token: not for this call")
		case c.ExpiresAt.Sub(c.IssuedAt.Time) > time.Minute:
			return "", errors.New("subject token: lives longer than a minute")
		case c.Subject != strconv.FormatInt(id, 10):
			return "", errors.New("subject token: for another user")
		}
		return c.ID, nil
	}
}

// scan runs stmt with args and calls row for every row.
func scan(ctx context.Context, stmt *sql.Stmt, row func(*sql.Rows) error, args ...any) error {
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return fmt.Errorf("query: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows); err != nil {
			return fmt.Errorf("scan: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("rows: %w", err)
	}
	return nil
}
