// Package database opens a service's database from its URL (SQLite by default,
// PostgreSQL for deployments with several replicas) and applies the embedded
// migrations with goose before the service takes traffic.
package database

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/XSAM/otelsql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/pressly/goose/v3"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	_ "modernc.org/sqlite" // registers the "sqlite" driver (pure Go, no cgo)

	"github.com/jeeves4service/jeeves4service"
)

// Engine names a supported database engine.
type Engine string

// The engines.
const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

// ParseURL splits "sqlite:PATH" or "postgres://..." into engine and DSN.
// CheckURL is ParseURL for configuration: it only checks the form.
func ParseURL(url string) (Engine, string, error) {
	switch {
	case strings.HasPrefix(url, "sqlite:"):
		path := strings.TrimPrefix(url, "sqlite:")
		if path == "" {
			return "", "", fmt.Errorf("sqlite URL needs a path, as in sqlite:./data/app.db")
		}
		return SQLite, path, nil
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return Postgres, url, nil
	}
	return "", "", fmt.Errorf("must start with sqlite: or postgres://")
}

func CheckURL(url string) (string, error) {
	if _, _, err := ParseURL(url); err != nil {
		return "", err
	}
	return url, nil
}

// Pool sizes. SQLite has one writer and cheap connections; PostgreSQL's
// connections are processes on the server, so a few per core are enough.
const (
	sqliteConns   = 8
	postgresConns = 20
)

// Traced makes every statement a span under the request's span (tracing
// on; nil: plain database/sql). otelsql wraps the driver, so prepared
// statements and transactions are covered without touching the queries.
type Traced struct{ Provider trace.TracerProvider }

func (t *Traced) open(driverName, dsn string) (*sql.DB, error) {
	if t == nil || t.Provider == nil {
		return sql.Open(driverName, dsn)
	}
	return otelsql.Open(driverName, dsn, otelsql.WithTracerProvider(t.Provider),
		otelsql.WithAttributes(attribute.String("db.system.name", driverName)),
		otelsql.WithSpanOptions(otelsql.SpanOptions{OmitConnResetSession: true, OmitRows: true, OmitConnectorConnect: true,
			// Only statements a request makes: start-up and background work start no traces.
			SpanFilter: func(ctx context.Context, _ otelsql.Method, _ string, _ []driver.NamedValue) bool {
				return trace.SpanFromContext(ctx).SpanContext().IsValid()
			}}))
}

// Open connects and migrates. service names the migration set ("user" or "property").
func Open(ctx context.Context, url, service string, traced *Traced) (*sql.DB, Engine, error) {
	engine, dsn, err := ParseURL(url)
	if err != nil {
		return nil, "", err
	}
	var db *sql.DB
	switch engine {
	case SQLite:
		if err := os.MkdirAll(filepath.Dir(dsn), 0o700); err != nil {
			return nil, "", fmt.Errorf("create database directory for %s: %w", dsn, err)
		}
		// WAL lets readers run beside the writer; busy_timeout makes writers wait
		// instead of failing; _txlock=immediate takes the write lock at BEGIN so two
		// transactions never deadlock upgrading their locks (SQLITE_BUSY at once).
		db, err = traced.open("sqlite", "file:"+dsn+"?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)"+
			"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate")
		if err == nil {
			// Idle connections are kept (database/sql keeps only 2 unless told):
			// each one holds its prepared statements and pragmas.
			db.SetMaxOpenConns(sqliteConns)
			db.SetMaxIdleConns(sqliteConns)
		}
	case Postgres:
		// A database that does not answer must give a quick 503, not a hung request.
		if !strings.Contains(dsn, "connect_timeout=") {
			sep := "?"
			if strings.Contains(dsn, "?") {
				sep = "&"
			}
			dsn += sep + "connect_timeout=3"
		}
		db, err = traced.open("pgx", dsn)
		if err == nil {
			db.SetMaxOpenConns(postgresConns)
			db.SetMaxIdleConns(postgresConns)
			db.SetConnMaxIdleTime(5 * time.Minute)
		}
	}
	if err != nil {
		return nil, "", fmt.Errorf("open %s database: %w", engine, err)
	}
	if err := Migrate(ctx, db, engine, service); err != nil {
		_ = db.Close()
		return nil, "", err
	}
	return db, engine, nil
}

// Migrate applies the service's embedded migrations for engine.
func Migrate(ctx context.Context, db *sql.DB, engine Engine, service string) error {
	dir := fmt.Sprintf("sql/%s/%s/migrations", engine, service)
	fsys, err := fs.Sub(jeeves4service.Migrations, dir)
	if err != nil {
		return fmt.Errorf("migrations %s: %w", dir, err)
	}
	dialect := goose.DialectSQLite3
	if engine == Postgres {
		dialect = goose.DialectPostgres
	}
	p, err := goose.NewProvider(dialect, db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("prepare %s migrations: %w", service, err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("apply %s migrations on %s: %w", service, engine, err)
	}
	return nil
}

// Ping reports whether the database answers within two seconds (for /readyz).
func Ping(ctx context.Context, db *sql.DB) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// InTx runs fn in a transaction, committing when it returns nil.
func InTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	return nil
}

// OpenFor is Open followed by the choice of repository for the engine: each
// service's adapters.Open is this with its own two constructors.
func OpenFor[R any](ctx context.Context, url, service string, traced *Traced,
	sqlite, postgres func(context.Context, *sql.DB) (R, error)) (R, *sql.DB, error) {
	var zero R
	conn, engine, err := Open(ctx, url, service, traced)
	if err != nil {
		return zero, nil, fmt.Errorf("open %s database: %w", service, err)
	}
	build := sqlite
	if engine == Postgres {
		build = postgres
	}
	repo, err := build(ctx, conn)
	if err != nil {
		_ = conn.Close()
		return zero, nil, err
	}
	return repo, conn, nil
}
