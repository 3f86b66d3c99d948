// Package testenv gives tests what they need to run against real things: a
// fresh database per test on each engine, a log buffer, and JWTs signed by a
// key whose JWKS is served on a loopback listener.
package testenv

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/redis/go-redis/v9"

	"github.com/jeeves4service/jeeves4service/internal/testkit/notrun"
	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
)

// Engine is one database engine a suite runs on.
type Engine struct {
	Name string
	// NewURL returns the URL of a fresh, empty database for one test.
	NewURL func(t testing.TB) string
}

// Engines returns SQLite always, and PostgreSQL when TEST_POSTGRES_URL is set.
// With CI=true a missing or unreachable PostgreSQL fails the test instead of
// being skipped, so CI can never pass by silently testing one engine.
func Engines(t testing.TB) []Engine {
	engines := []Engine{{Name: "sqlite", NewURL: func(t testing.TB) string {
		return "sqlite:" + filepath.Join(t.TempDir(), "test.db")
	}}}
	admin := os.Getenv("TEST_POSTGRES_URL")
	if admin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("TEST_POSTGRES_URL is not set but CI=true: PostgreSQL tests must run in CI")
		}
		notrun.Record(t, notrun.Postgres)
		return engines
	}
	if err := pingPostgres(admin); err != nil {
		t.Fatalf("TEST_POSTGRES_URL is set but PostgreSQL is unreachable: %v", err)
	}
	return append(engines, Engine{Name: "postgres", NewURL: func(t testing.TB) string { return FreshPostgres(t, admin) }})
}

func pingPostgres(admin string) error {
	db, err := sql.Open("pgx", admin)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

// LogBuffer is a goroutine-safe log sink tests can search.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns everything logged so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Lines returns the JSON log lines whose msg equals msg.
func (l *LogBuffer) Lines(msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(l.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// Logger returns a JSON debug logger writing to a new LogBuffer.
func Logger() (*slog.Logger, *LogBuffer) {
	buf := &LogBuffer{}
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// Issuer signs test JWTs and serves their JWKS on a loopback listener.
type Issuer struct {
	Signer   *jwtauth.Signer
	Key      ed25519.PrivateKey
	JWKSURL  string
	Settings jwtauth.Settings
}

// Settings are the issuer and audience tests use.
var Settings = jwtauth.Settings{Issuer: "jeeves4service", Audience: "jeeves4service"}

// NewIssuer starts a JWKS server for a fresh key.
func NewIssuer(t testing.TB) *Issuer {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer := jwtauth.NewSigner(key, nil, Settings, time.Hour)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(signer.JWKS())
	}))
	t.Cleanup(srv.Close)
	return &Issuer{Signer: signer, Key: key, JWKSURL: srv.URL + "/.well-known/jwks.json", Settings: Settings}
}

// Token signs a valid token for userID.
func (i *Issuer) Token(t testing.TB, userID int64, admin bool) string {
	t.Helper()
	tok, _, err := i.Signer.Sign(jwtauth.Claims{
		RegisteredClaims: jwtRegistered(userID), UserID: userID, Username: fmt.Sprintf("user%d@example.com", userID),
		Email:   fmt.Sprintf("user%d@example.com", userID),
		IsAdmin: admin, TraceID: "test",
	}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// SubjectToken signs a subject token, living 30 s, for userID's call of
// operation at audience made by azp (the user service mints these).
func (i *Issuer) SubjectToken(t testing.TB, userID int64, audience, operation, azp string) string {
	t.Helper()
	tok, _, err := i.Signer.SignSubject(jwtauth.SubjectRequest{Subject: fmt.Sprint(userID), Audience: audience,
		Operation: operation, AuthorizedParty: azp}, 30*time.Second, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// RedisURL returns TEST_REDIS_URL after checking Redis answers. Without it
// the test is skipped locally with one line; with CI=true it fails.
func RedisURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("TEST_REDIS_URL")
	if u == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("TEST_REDIS_URL is not set but CI=true: the shared-limit tests must run in CI")
		}
		notrun.Skip(t, notrun.Redis)
	}
	opts, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("TEST_REDIS_URL: %v", err)
	}
	c := redis.NewClient(opts)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("TEST_REDIS_URL is set but Redis does not answer: %v", err)
	}
	return u
}

// RandomPrefix is a fresh Redis key prefix, so tests sharing a Redis never
// see each other's counters.
func RandomPrefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("test-%x:", b)
}

// DiscardLogger logs through the same handler as Logger but keeps nothing,
// for long runs (the soak) whose memory is being measured.
func DiscardLogger() (*slog.Logger, *LogBuffer) {
	return slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug})), &LogBuffer{}
}

// Serve runs a service until the test ends (or until the returned stop is
// called, at most once), then waits for it to finish. A Serve error fails the test.
func Serve(t testing.TB, s interface{ Serve(context.Context) error }) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.Serve(ctx); err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}
