package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	neturl "net/url"
	"testing"
)

// FreshPostgres creates a database with a random name and drops it after the test.
func FreshPostgres(t testing.TB, admin string) string {
	t.Helper()
	url, drop, err := ScratchPostgres(context.Background(), admin, "t_")
	if err != nil {
		t.Fatalf("fresh PostgreSQL database: %v", err)
	}
	t.Cleanup(drop)
	return url
}

// ScratchPostgres creates an empty PostgreSQL database with a random name
// prefixed by prefix, on the server adminURL points at, for one test or
// benchmark run. It returns the new database's URL and a function that drops it.
func ScratchPostgres(ctx context.Context, adminURL, prefix string) (string, func(), error) {
	u, err := neturl.Parse(adminURL)
	if err != nil {
		return "", nil, fmt.Errorf("parse admin URL: %w", err)
	}
	db, err := sql.Open("pgx", adminURL)
	if err != nil {
		return "", nil, fmt.Errorf("open admin connection: %w", err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := fmt.Sprintf("%s%x", prefix, b)
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		_ = db.Close()
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	u.Path = "/" + name
	drop := func() {
		_, _ = db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		_ = db.Close()
	}
	return u.String(), drop, nil
}
