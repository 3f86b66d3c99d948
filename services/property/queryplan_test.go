package property_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/services/common/database"
)

// The claims query runs as a prepared statement, and after five executions
// PostgreSQL may plan it once for any user id and LIMIT (the generic plan).
// With an index on user_id alone that plan walked the primary key
// (property_id, user_id) in order, reading every membership: make bench's
// rows_growth was 5x slower at 100,000 rows. Both plans must find the user's
// memberships through an index on user_id.
func TestClaimsQueryFindsTheUserThroughItsIndexInEveryPlan(t *testing.T) {
	ctx := context.Background()
	db, _, err := database.Open(ctx, testenv.PostgresURL(t), "property", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// 5 properties of user 7 among 20,000 of 1,000 other users, as the bench seeds them.
	for _, q := range []string{
		`INSERT INTO properties (name, address, created_by, created_at, updated_at)
		 SELECT CASE WHEN x <= 5 THEN 'mine' ELSE 'bulk' END, '', CASE WHEN x <= 5 THEN 7 ELSE 100000 + x % 1000 END, 0, 0
		 FROM generate_series(1, 20000) x`,
		`INSERT INTO property_members (property_id, user_id, access_level, created_at)
		 SELECT id, created_by, 'owner', 0 FROM properties`,
		`ANALYZE`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	query := namedQuery(t, "ListUserClaims")
	conn, err := db.Conn(ctx) // PREPARE and SET belong to one session
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PREPARE claims AS "+query); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
		if _, err := conn.ExecContext(ctx, "SET plan_cache_mode = "+mode); err != nil {
			t.Fatal(err)
		}
		rows, err := conn.QueryContext(ctx, "EXPLAIN EXECUTE claims(7, 1000)")
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, line)
		}
		rows.Close()
		text := strings.Join(plan, "\n")
		if !strings.Contains(text, "property_members_by_user") || strings.Contains(text, "property_members_pkey") {
			t.Fatalf("%s: the claims query does not find the user through its index:\n%s", mode, text)
		}
		// No window over the user's rows (the total is counted only for a full
		// page). A sort of the few rows the index finds is the planner's
		// cost-based choice here, not a sorter built for every call as on SQLite.
		if strings.Contains(text, "WindowAgg") {
			t.Fatalf("%s: the claims query runs a window over the user's rows:\n%s", mode, text)
		}
	}
}

// On SQLite the claims query reads the user's rows from the (user_id,
// property_id) index in the order it answers in: a window (COUNT(*) OVER ())
// or an ORDER BY the index does not give makes SQLite build a temporary
// B-tree (a sorter) for every call, about half of what the internal call
// cost beyond the limit (make bench-instructions).
func TestClaimsQueryReadsTheIndexInOrderOnSQLite(t *testing.T) {
	ctx := context.Background()
	db, _, err := database.Open(ctx, "sqlite:"+t.TempDir()+"/property.db", "property", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "EXPLAIN QUERY PLAN "+namedQuery(t, "ListUserClaims"), 7, 1000)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	text := strings.Join(plan, "\n")
	if !strings.Contains(text, "property_members_by_user_property") || strings.Contains(text, "TEMP B-TREE") ||
		strings.Contains(text, "CO-ROUTINE") {
		t.Fatalf("the claims query does not read the index in order:\n%s", text)
	}
}

// namedQuery returns the SQL of a `-- name:` query in sql/queries/property.sql,
// the one source sqlc generates from.
func namedQuery(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile("../../sql/queries/property.sql")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "-- name: "+name+" ")
	if !ok {
		t.Fatalf("no query %s", name)
	}
	var lines []string
	for _, l := range strings.Split(rest, "\n")[1:] {
		if strings.HasPrefix(l, "-- name:") {
			break
		}
		if !strings.HasPrefix(l, "--") {
			lines = append(lines, l)
		}
	}
	sql := strings.TrimSuffix(strings.TrimSpace(strings.Join(lines, "\n")), ";")
	// sqlc.arg(x) becomes $1, $2 in order, as sqlc writes it.
	for i := 1; strings.Contains(sql, "sqlc.arg("); i++ {
		start := strings.Index(sql, "sqlc.arg(")
		end := start + strings.IndexByte(sql[start:], ')')
		sql = sql[:start] + "$" + strconv.Itoa(i) + sql[end+1:]
	}
	return sql
}
