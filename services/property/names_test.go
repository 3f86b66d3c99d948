package property_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/services/common/database"
)

// Issue 25, item 2: a property name was bounded in characters only, so 200
// four-byte characters made an 800-byte name, every byte of it signed into
// the token of every user added to the property. A name is now also bounded
// in bytes (400 of UTF-8) on create and update, with a 400 naming the field.
func TestPropertyNamesAreBoundedInBytes(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		const owner = 30
		id := e.createProperty(t, owner, "Cottage")
		cases := []struct {
			name, value string
			status      int
		}{
			{"200 four-byte characters (800 bytes)", strings.Repeat("😀", 200), 400},
			{"101 four-byte characters (404 bytes)", strings.Repeat("😀", 101), 400},
			{"199 two-byte characters and a four-byte one (402 bytes)", strings.Repeat("ж", 199) + "😀", 400},
			{"100 four-byte characters (400 bytes)", strings.Repeat("😀", 100), 0},
			{"200 two-byte characters (400 bytes)", strings.Repeat("ж", 200), 0},
		}
		for _, c := range cases {
			body := map[string]string{"name": c.value}
			create := testenv.Do(t, "POST", e.url("/api/properties/"), body, e.as(t, owner)...)
			patch := testenv.Do(t, "PATCH", e.url("/api/property/%d", id), body, e.as(t, owner)...)
			if c.status == 0 {
				if create.Status != 201 || patch.Status != 200 {
					t.Fatalf("%s: create %d, update %d, want 201 and 200 (%s %s)", c.name, create.Status, patch.Status, create.Body, patch.Body)
				}
				continue
			}
			for _, r := range []struct {
				op string
				testenv.Response
			}{{"create", create}, {"update", patch}} {
				op := r.op
				if r.Status != c.status {
					t.Fatalf("%s: %s answered %d, want %d", c.name, op, r.Status, c.status)
				}
				p := r.Response.Problem(t)
				errs, _ := p["errors"].([]any)
				first, _ := func() (map[string]any, bool) {
					if len(errs) == 0 {
						return nil, false
					}
					m, ok := errs[0].(map[string]any)
					return m, ok
				}()
				if len(errs) != 1 || first["field"] != "name" || !strings.Contains(fmt.Sprint(first["message"]), "400 bytes") {
					t.Fatalf("%s: %s's problem does not name the field and the byte bound: %v", c.name, op, p)
				}
			}
		}
		// The rejected names wrote nothing: the property keeps the last good one.
		var got struct{ Name string }
		testenv.Do(t, "GET", e.url("/api/property/%d", id), nil, e.as(t, owner)...).JSON(t, &got)
		if got.Name != strings.Repeat("ж", 200) {
			t.Fatalf("after the refused updates the name is %q", got.Name)
		}
	})
}

// A name stored before the byte bound (200 characters of 4 bytes each were
// allowed) stays as it is in the public API, whose contract bounds it in
// characters, but the internal claims list never answers a name over the
// bound its own contract states: it is cut at a character boundary, with an
// ellipsis.
func TestStoredNamesLongerThanTheByteBoundAreCutInClaims(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		const owner = 31
		id := e.createProperty(t, owner, "Short for now")
		stored := strings.Repeat("😀", 200)
		db, _, err := database.Open(context.Background(), e.dbURL, "property", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec("UPDATE properties SET name = $1 WHERE id = $2", stored, id); err != nil {
			t.Fatal(err)
		}
		var public struct{ Name string }
		testenv.Do(t, "GET", e.url("/api/property/%d", id), nil, e.as(t, owner)...).JSON(t, &public)
		if public.Name != stored {
			t.Fatalf("the public API changed a stored name: %d bytes", len(public.Name))
		}
		resp := testenv.Do(t, "GET", userPropertiesURL(e, fmt.Sprint(owner)), nil, e.claimsCall(t, goodToken, owner)...)
		var claims struct {
			Properties []struct {
				PropertyName string `json:"property_name"`
			}
		}
		resp.JSON(t, &claims)
		if resp.Status != 200 || len(claims.Properties) != 1 {
			t.Fatalf("internal list: %d %s", resp.Status, resp.Body)
		}
		name := claims.Properties[0].PropertyName
		if len(name) > 400 || !utf8.ValidString(name) || !strings.HasSuffix(name, "…") ||
			!strings.HasPrefix(stored, strings.TrimSuffix(name, "…")) || utf8.RuneCountInString(name) > 200 {
			t.Fatalf("the internal list answered a %d-byte name (%d characters), want a cut of the stored one within 400 bytes",
				len(name), utf8.RuneCountInString(name))
		}
	})
}
