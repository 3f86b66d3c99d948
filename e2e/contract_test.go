package e2e

import (
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/jeeves4service/jeeves4service/internal/testkit/contract"
	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/services/common/database"
)

// fixture is the data every generated case runs against.
type fixture struct {
	ownerID, memberID, propertyID int64
	ownerToken                    string
}

func setUp(t *testing.T, s *system) fixture {
	t.Helper()
	owner := register(t, s, "owner@example.com", "owner password 123")
	member := register(t, s, "member@example.com", "member password 123")
	sess, _ := login(t, s, "owner@example.com", "owner password 123")
	created := testenv.Do(t, "POST", s.property+"/api/properties/", map[string]string{"name": "Cottage"}, testenv.Bearer(sess.Token)...)
	var p struct{ ID int64 }
	created.JSON(t, &p)
	memberSess, _ := login(t, s, "member@example.com", "member password 123")
	share(t, s, sess.Token, memberSess.Token, p.ID, "member@example.com", "guest")
	testenv.Do(
		t,
		"POST",
		fmt.Sprintf("%s/api/property/%d/rooms", s.property, p.ID),
		map[string]string{"name": "Kitchen"},
		testenv.Bearer(sess.Token)...)
	return fixture{ownerID: owner, memberID: member, propertyID: p.ID, ownerToken: sess.Token}
}

// snapshot hashes every row of every table of the given databases (the
// tables are read from each database's catalogue, so a new table is covered
// without touching this test). Any query error fails the test.
func snapshot(t *testing.T, urls ...string) string {
	t.Helper()
	h := sha256.New()
	for _, url := range urls {
		engine, dsn, err := database.ParseURL(url)
		if err != nil {
			t.Fatal(err)
		}
		driver, catalogue := "sqlite", "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
		if engine == database.Postgres {
			driver, catalogue = "pgx", "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name"
		}
		db, err := sql.Open(driver, dsn)
		if err != nil {
			t.Fatal(err)
		}
		var tables []string
		if err := scanAll(db, catalogue, func(vals []any) { tables = append(tables, fmt.Sprint(vals[0])) }); err != nil {
			t.Fatalf("snapshot: list tables: %v", err)
		}
		if len(tables) == 0 {
			t.Fatalf("snapshot: %s has no tables", engine)
		}
		for _, table := range tables {
			if err := scanAll(db, "SELECT * FROM "+table+" ORDER BY 1", func(vals []any) { fmt.Fprintln(h, table, vals) }); err != nil {
				t.Fatalf("snapshot: read %s: %v", table, err)
			}
		}
		db.Close()
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// scanAll calls row with every row of query's result.
func scanAll(db *sql.DB, query string, row func([]any)) error {
	rows, err := db.Query(query)
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		row(vals)
	}
	return rows.Err()
}

// badCase is one request the contract forbids (or, for unknown ids, one that
// names nothing), generated from an operation's schemas.
type badCase struct {
	name     string
	path     string
	body     any
	noAuth   bool
	badAuth  bool
	wantCode int // 0: any documented 4xx
}

// example builds a valid value from a schema's examples and bounds.
func example(s *openapi3.Schema) any {
	if s.Example != nil {
		return s.Example
	}
	if len(s.AllOf) > 0 {
		return example(s.AllOf[0].Value)
	}
	switch {
	case s.Type.Is("object"):
		out := map[string]any{}
		for name, p := range s.Properties {
			out[name] = example(p.Value)
		}
		return out
	case s.Type.Is("integer"), s.Type.Is("number"):
		if s.Min != nil {
			return *s.Min
		}
		return 1
	case s.Type.Is("boolean"):
		return true
	case len(s.Enum) > 0:
		return s.Enum[0]
	}
	return strings.Repeat("x", int(max(s.MinLength, 1)))
}

func without(m map[string]any, key string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if k != key {
			out[k] = v
		}
	}
	return out
}

func with(m map[string]any, key string, v any) map[string]any {
	out := without(m, key)
	out[key] = v
	return out
}

// bodyCases derives forbidden bodies from a flat object schema.
func bodyCases(s *openapi3.Schema) []badCase {
	valid, _ := example(s).(map[string]any)
	cases := []badCase{
		{name: "no body"},
		{name: "not JSON", body: `{"unterminated": `},
		{name: "JSON array", body: `[]`},
		{name: "oversized body", body: map[string]any{"padding": strings.Repeat("p", 100<<10)}, wantCode: 413},
	}
	if s.AdditionalProperties.Has != nil && !*s.AdditionalProperties.Has {
		cases = append(cases, badCase{name: "unknown field", body: with(valid, "unexpected_field", 1)})
	}
	if s.MinProps > 0 {
		cases = append(cases, badCase{name: "empty object", body: map[string]any{}})
	}
	for _, req := range s.Required {
		cases = append(cases, badCase{name: "missing " + req, body: without(valid, req)})
	}
	names := make([]string, 0, len(s.Properties))
	for n := range s.Properties {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := s.Properties[n].Value
		if p.Type.Is("string") || p.Type == nil {
			cases = append(cases, badCase{name: n + " wrong type", body: with(valid, n, 12345)})
		} else {
			cases = append(cases, badCase{name: n + " wrong type", body: with(valid, n, "not a number")})
		}
		if p.MaxLength != nil {
			long := strings.Repeat("x", int(*p.MaxLength)+1)
			if p.Format == "email" {
				long = strings.Repeat("a", int(*p.MaxLength)) + "@example.com"
			}
			cases = append(cases, badCase{name: n + " too long", body: with(valid, n, long)})
		}
		if p.MinLength > 0 {
			cases = append(cases, badCase{name: n + " too short", body: with(valid, n, strings.Repeat("x", int(p.MinLength)-1))})
		}
		if p.Format == "email" {
			cases = append(cases, badCase{name: n + " not an email", body: with(valid, n, "not-an-email")})
		}
		if len(p.Enum) > 0 {
			cases = append(cases, badCase{name: n + " not in enum", body: with(valid, n, "not-a-level")})
		}
	}
	return cases
}

// operationCases lists every forbidden request for one operation.
func operationCases(path string, op *openapi3.Operation, params openapi3.Parameters, f fixture, secured bool) []badCase {
	// No invitation has this id: a forbidden request about one is refused before it is looked up.
	values := map[string]string{"id": fmt.Sprint(f.propertyID), "user_id": fmt.Sprint(f.memberID), "invitation_id": "999998"}
	if strings.HasPrefix(path, "/api/internal/") {
		values["user_id"] = fmt.Sprint(f.ownerID)
	}
	fill := func(override map[string]string) string {
		out := path
		for name, v := range values {
			if o, ok := override[name]; ok {
				v = o
			}
			out = strings.ReplaceAll(out, "{"+name+"}", v)
		}
		return out
	}
	var validBody any
	var cases []badCase
	if op.RequestBody != nil {
		schema := op.RequestBody.Value.Content.Get("application/json").Schema.Value
		validBody = example(schema)
		for _, c := range bodyCases(schema) {
			c.path = fill(nil)
			cases = append(cases, c)
		}
	}
	for _, p := range append(params, op.Parameters...) {
		if p.Value.In != "path" {
			continue
		}
		for _, bad := range []string{"0", "-1", "abc", "9223372036854775808", "1.5"} {
			cases = append(
				cases,
				badCase{name: p.Value.Name + "=" + bad, path: fill(map[string]string{p.Value.Name: bad}), body: validBody},
			)
		}
		if p.Value.Name == "id" {
			cases = append(
				cases,
				badCase{name: "unknown id", path: fill(map[string]string{"id": "999999"}), body: validBody, wantCode: 404},
			)
		}
	}
	if secured {
		cases = append(cases,
			badCase{name: "no credentials", path: fill(nil), body: validBody, noAuth: true, wantCode: 401},
			badCase{name: "wrong credentials", path: fill(nil), body: validBody, badAuth: true, wantCode: 401})
	}
	return cases
}

func TestEveryOperationRejectsWhatTheContractForbids(t *testing.T) {
	pub, in, err := contract.Specs()
	if err != nil {
		t.Fatal(err)
	}
	for _, eng := range testenv.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			s := startSystem(t, eng)
			f := setUp(t, s)
			before := snapshot(t, s.userDB, s.propertyDB)
			total := 0
			for _, spec := range []*contract.Spec{pub, in} {
				paths := spec.Doc.Paths.InMatchingOrder()
				sort.Strings(paths)
				for _, path := range paths {
					item := spec.Doc.Paths.Value(path)
					for method, op := range item.Operations() {
						secured := op.Security == nil || len(*op.Security) > 0
						base := s.property
						switch {
						case spec.Name == "internal" && len(op.Tags) > 0 && op.Tags[0] == "users":
							base = s.userInternal
						case spec.Name == "internal":
							base = s.internal
						case len(op.Tags) > 0 && op.Tags[0] == "users":
							base = s.user
						}
						for _, c := range operationCases(path, op, item.Parameters, f, secured) {
							total++
							headers := testenv.Bearer(f.ownerToken)
							switch {
							case spec.Name == "internal" && base == s.userInternal:
								headers = []string{"X-Internal-Token", propertyToken}
							case spec.Name == "internal":
								headers = s.claimsCall(t, base+c.path)
							}
							switch {
							case c.noAuth:
								headers = nil
							case c.badAuth && spec.Name == "internal":
								headers = []string{"X-Internal-Token", strings.Repeat("w", 40)}
							case c.badAuth:
								headers = testenv.Bearer("not.a.jwt")
							}
							body := c.body
							if b, ok := body.(map[string]any); ok {
								data, _ := json.Marshal(b)
								body = string(data)
							}
							label := fmt.Sprintf("%s %s [%s]", op.OperationID, method, c.name)
							// testenv.Do checks the exchange against the contract: a forbidden
							// request must get a documented 4xx, never a 5xx.
							resp := testenv.Do(t, method, base+c.path, body, headers...)
							if resp.Status < 400 || resp.Status >= 500 || (c.wantCode != 0 && resp.Status != c.wantCode) {
								t.Fatalf("%s: status %d (%s)", label, resp.Status, resp.Body)
							}
							resp.Problem(t)
							if after := snapshot(t, s.userDB, s.propertyDB); after != before {
								t.Fatalf("%s: a rejected request changed the database", label)
							}
						}
					}
				}
			}
			t.Logf("%d forbidden requests sent, each rejected with a documented 4xx and no write", total)
			if r := testenv.Do(t, "GET", s.property+"/readyz", nil); r.Status != 200 {
				t.Fatalf("property service no longer ready: %d", r.Status)
			}
			// The snapshot does see writes (so "unchanged" above means something).
			testenv.Do(t, "POST", s.property+"/api/properties/", map[string]string{"name": "New"}, testenv.Bearer(f.ownerToken)...)
			if snapshot(t, s.userDB, s.propertyDB) == before {
				t.Fatal("snapshot did not notice a write")
			}
		})
	}
}
