package database

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"

	"github.com/jeeves4service/jeeves4service/services/common/apperr"
)

// SQLite extended result codes for constraint violations that mean "already exists".
const (
	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintUnique     = 2067
)

// IsUniqueViolation reports a duplicate key on either engine.
func IsUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		return liteErr.Code() == sqliteConstraintUnique || liteErr.Code() == sqliteConstraintPrimaryKey
	}
	return false
}

// IsUnavailable reports that the database could not be reached (as opposed to
// a query that failed): the caller should answer 503 and try again later.
func IsUnavailable(err error) bool {
	var connErr *pgconn.ConnectError
	var netErr net.Error
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08: connection exception; 57P01-03: the server is shutting down or starting.
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
	}
	return errors.As(err, &connErr) || errors.As(err, &netErr) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		pgconn.SafeToRetry(err) || pgconn.Timeout(err) || strings.Contains(err.Error(), "conn closed")
}

// Classify turns storage errors into use-case failures: no row → NotFound,
// duplicate → Conflict, unreachable → Unavailable; anything else stays internal.
func Classify(err error, notFound, conflict string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return apperr.New(apperr.NotFound, "%s", notFound)
	case IsUniqueViolation(err):
		return apperr.New(apperr.Conflict, "%s", conflict)
	case IsUnavailable(err):
		return &unavailable{err}
	}
	return err
}

// unavailable keeps the cause for the log while telling the caller only "try later".
type unavailable struct{ cause error }

func (u *unavailable) Error() string { return "database unavailable: " + u.cause.Error() }
func (u *unavailable) Unwrap() []error {
	return []error{u.cause, apperr.New(apperr.Unavailable, "The database is not available; try again shortly.")}
}

// Messages are what a repository tells callers when a row is missing or duplicated.
type Messages struct {
	NotFound, Conflict string
}

// Classify is Classify with these messages.
func (m Messages) Classify(err error) error { return Classify(err, m.NotFound, m.Conflict) }

// Rows turns an :execrows result into an error: the query's own failure, or
// NotFound when it touched no row.
func (m Messages) Rows(n int64, err error) error {
	if err != nil {
		return m.Classify(err)
	}
	if n == 0 {
		return apperr.New(apperr.NotFound, "%s", m.NotFound)
	}
	return nil
}
