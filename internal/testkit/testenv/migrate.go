package testenv

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"testing"

	"github.com/pressly/goose/v3"

	"github.com/jeeves4service/jeeves4service"
	"github.com/jeeves4service/jeeves4service/services/common/database"
)

// MigratedTo opens service's database at url with the migrations up to
// version applied and no later one: a migration's test stores rows there
// as the code of that version did, then starts the service, which applies
// the rest. The connection is closed when the test ends.
func MigratedTo(t testing.TB, url, service string, version int64) (*sql.DB, database.Engine) {
	t.Helper()
	ctx := context.Background()
	conn, engine, err := database.Open(ctx, url, service, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	fsys, err := fs.Sub(jeeves4service.Migrations, fmt.Sprintf("sql/%s/%s/migrations", engine, service))
	if err != nil {
		t.Fatal(err)
	}
	dialect := goose.DialectSQLite3
	if engine == database.Postgres {
		dialect = goose.DialectPostgres
	}
	p, err := goose.NewProvider(dialect, conn, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, version); err != nil {
		t.Fatalf("migrate %s down to %d: %v", service, version, err)
	}
	return conn, engine
}
