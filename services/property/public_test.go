package property_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
)

func (e *env) as(t *testing.T, userID int64) []string {
	return testenv.Bearer(e.issuer.Token(t, userID, false))
}

func (e *env) url(format string, args ...any) string { return e.public + fmt.Sprintf(format, args...) }

func TestPropertyLifecycleAndAuthorization(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		const owner, friend, stranger = 10, 11, 12
		id := e.createProperty(t, owner, "Cottage")

		// A stranger cannot tell the property exists.
		for _, method := range []string{"GET", "DELETE"} {
			if r := testenv.Do(t, method, e.url("/api/property/%d", id), nil, e.as(t, stranger)...); r.Status != 404 {
				t.Fatalf("stranger %s: %d", method, r.Status)
			}
		}
		if r := testenv.Do(t, "GET", e.url("/api/property/%d", id+1000), nil, e.as(t, owner)...); r.Status != 404 {
			t.Fatalf("missing property: %d", r.Status)
		}

		// The owner shares it; a member reads but does not change.
		e.addMember(t, owner, id, friend, "member")
		var got struct {
			Name        string `json:"name"`
			AccessLevel string `json:"access_level"`
		}
		testenv.Do(t, "GET", e.url("/api/property/%d", id), nil, e.as(t, friend)...).JSON(t, &got)
		if got.Name != "Cottage" || got.AccessLevel != "member" {
			t.Fatalf("member view: %+v", got)
		}
		if r := testenv.Do(t, "PATCH", e.url("/api/property/%d", id),
			map[string]string{"name": "Mine now"}, e.as(t, friend)...); r.Status != 403 {
			t.Fatalf("member patch: %d", r.Status)
		}
		if r := testenv.Do(t, "POST", e.url("/api/property/%d/rooms", id),
			map[string]string{"name": "Attic"}, e.as(t, friend)...); r.Status != 403 {
			t.Fatalf("member add room: %d", r.Status)
		}
		if r := testenv.Do(t, "DELETE", e.url("/api/property/%d", id), nil, e.as(t, friend)...); r.Status != 403 {
			t.Fatalf("member delete: %d", r.Status)
		}
		if r := testenv.Do(t, "PUT", e.url("/api/property/%d/members/%d", id, friend),
			map[string]string{"access_level": "owner"}, e.as(t, friend)...); r.Status != 403 {
			t.Fatalf("member promotes self: %d", r.Status)
		}
		if r := testenv.Do(t, "DELETE", e.url("/api/property/%d/members/%d", id, owner), nil, e.as(t, friend)...); r.Status != 403 {
			t.Fatalf("member removes owner: %d", r.Status)
		}

		// Rooms: add, list, duplicate name conflicts.
		if r := testenv.Do(t, "POST", e.url("/api/property/%d/rooms", id),
			map[string]string{"name": "Kitchen"}, e.as(t, owner)...); r.Status != 201 {
			t.Fatalf("add room: %d %s", r.Status, r.Body)
		}
		if r := testenv.Do(t, "POST", e.url("/api/property/%d/rooms", id),
			map[string]string{"name": "Kitchen"}, e.as(t, owner)...); r.Status != 409 {
			t.Fatalf("duplicate room: %d %s", r.Status, r.Body)
		}
		var rooms struct {
			TotalCount int `json:"total_count"`
		}
		testenv.Do(t, "GET", e.url("/api/property/%d/rooms", id), nil, e.as(t, friend)...).JSON(t, &rooms)
		if rooms.TotalCount != 1 {
			t.Fatalf("rooms: %+v", rooms)
		}

		// The last owner can neither be demoted nor removed.
		if r := testenv.Do(t, "PUT", e.url("/api/property/%d/members/%d", id, owner),
			map[string]string{"access_level": "guest"}, e.as(t, owner)...); r.Status != 409 {
			t.Fatalf("demote last owner: %d %s", r.Status, r.Body)
		}
		if r := testenv.Do(t, "DELETE", e.url("/api/property/%d/members/%d", id, owner), nil, e.as(t, owner)...); r.Status != 409 {
			t.Fatalf("remove last owner: %d %s", r.Status, r.Body)
		}
		if r := testenv.Do(t, "DELETE", e.url("/api/property/%d/members/%d", id, stranger), nil, e.as(t, owner)...); r.Status != 404 {
			t.Fatalf("remove non-member: %d %s", r.Status, r.Body)
		}
		var members struct {
			TotalCount int `json:"total_count"`
		}
		testenv.Do(t, "GET", e.url("/api/property/%d/members", id), nil, e.as(t, owner)...).JSON(t, &members)
		if members.TotalCount != 2 {
			t.Fatalf("members: %+v", members)
		}

		// Admins see everything; users see only theirs.
		e.createProperty(t, stranger, "Stranger's flat")
		var list struct {
			TotalCount int `json:"total_count"`
		}
		testenv.Do(t, "GET", e.url("/api/properties/"), nil, testenv.Bearer(e.issuer.Token(t, 99, true))...).JSON(t, &list)
		if list.TotalCount != 2 {
			t.Fatalf("admin list: %+v", list)
		}
		testenv.Do(t, "GET", e.url("/api/properties/"), nil, e.as(t, friend)...).JSON(t, &list)
		if list.TotalCount != 1 {
			t.Fatalf("friend list: %+v", list)
		}

		// Patch, then delete; the member loses access with it.
		if r := testenv.Do(t, "PATCH", e.url("/api/property/%d", id),
			map[string]string{"address": "2 Lane"}, e.as(t, owner)...); r.Status != 200 ||
			!strings.Contains(string(r.Body), "2 Lane") {
			t.Fatalf("patch: %d %s", r.Status, r.Body)
		}
		if r := testenv.Do(t, "DELETE", e.url("/api/property/%d/members/%d", id, friend), nil, e.as(t, owner)...); r.Status != 204 {
			t.Fatalf("remove member: %d %s", r.Status, r.Body)
		}
		if r := testenv.Do(t, "DELETE", e.url("/api/property/%d", id), nil, e.as(t, owner)...); r.Status != 204 {
			t.Fatalf("delete: %d %s", r.Status, r.Body)
		}
		if r := testenv.Do(t, "GET", e.url("/api/property/%d", id), nil, e.as(t, owner)...); r.Status != 404 {
			t.Fatalf("deleted property still visible: %d", r.Status)
		}
	})
}

func TestBadInputIsRejectedAndWritesNothing(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		const owner = 20
		id := e.createProperty(t, owner, "Cottage")
		cases := []struct {
			name, method, path string
			body               any
			status             int
		}{
			{"malformed JSON", "POST", "/api/properties/", `{"name": `, 400},
			{"wrong type", "POST", "/api/properties/", `{"name": 42}`, 400},
			{"missing name", "POST", "/api/properties/", `{"address": "x"}`, 400},
			{"empty name", "POST", "/api/properties/", `{"name": ""}`, 400},
			{"name too long", "POST", "/api/properties/", map[string]string{"name": strings.Repeat("n", 201)}, 400},
			{"unknown field", "POST", "/api/properties/", `{"name": "x", "owner_id": 1}`, 400},
			{"oversized body", "POST", "/api/properties/", `{"name": "` + strings.Repeat("n", 100<<10) + `"}`, 413},
			{"not JSON at all", "POST", "/api/properties/", `name=x`, 400},
			{"empty patch", "PATCH", "/api/property/" + fmt.Sprint(id), `{}`, 400},
			{"bad access level", "PUT", fmt.Sprintf("/api/property/%d/members/5", id), `{"access_level": "king"}`, 400},
			{"id zero", "GET", "/api/property/0", nil, 400},
			{"negative id", "GET", "/api/property/-1", nil, 400},
			{"id beyond int64", "GET", "/api/property/9223372036854775808", nil, 400},
			{"id not a number", "GET", "/api/property/abc", nil, 400},
			{"member id zero", "PUT", fmt.Sprintf("/api/property/%d/members/0", id), `{"access_level": "guest"}`, 400},
			{
				"room name too long",
				"POST",
				fmt.Sprintf("/api/property/%d/rooms", id),
				map[string]string{"name": strings.Repeat("r", 101)},
				400,
			},
			{"unknown method", "PUT", "/api/properties/", `{}`, 405},
		}
		for _, c := range cases {
			r := testenv.Do(t, c.method, e.url("%s", c.path), c.body, e.as(t, owner)...)
			if r.Status != c.status {
				t.Fatalf("%s: status %d, want %d (%s)", c.name, r.Status, c.status, r.Body)
			}
			r.Problem(t)
		}
		var list struct {
			TotalCount int `json:"total_count"`
		}
		testenv.Do(t, "GET", e.url("/api/properties/"), nil, e.as(t, owner)...).JSON(t, &list)
		var members struct {
			TotalCount int `json:"total_count"`
		}
		testenv.Do(t, "GET", e.url("/api/property/%d/members", id), nil, e.as(t, owner)...).JSON(t, &members)
		var rooms struct {
			TotalCount int `json:"total_count"`
		}
		testenv.Do(t, "GET", e.url("/api/property/%d/rooms", id), nil, e.as(t, owner)...).JSON(t, &rooms)
		if list.TotalCount != 1 || members.TotalCount != 1 || rooms.TotalCount != 0 {
			t.Fatalf(
				"bad input changed something: %d properties, %d members, %d rooms",
				list.TotalCount,
				members.TotalCount,
				rooms.TotalCount,
			)
		}
		if r := testenv.Do(t, "GET", e.public+"/healthz", nil); r.Status != 200 {
			t.Fatalf("service stopped serving: %d", r.Status)
		}
	})
}

// A client can tell an expired access token (refresh) from one that was
// never valid (sign in again): RFC 6750's error and error_description in
// WWW-Authenticate, and the problem's type and detail (issue 36). The
// property service verifies with the user service's keys (the JWKS), with
// the same leeway.
func TestExpiredTokenIsAnsweredApartFromAnInvalidOne(t *testing.T) {
	e := start(t, testenv.Engines(t)[0]) // no database row is involved
	c := jwtauth.Claims{UserID: 30, Username: "x@example.com", Email: "x@example.com"}
	c.Subject = "30"
	testenv.BearerRefusals(t, "GET", e.url("/api/properties/"), c, e.issuer.Key, e.issuer.Settings)
}

func TestForgedAndBrokenTokensAreRejected(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		now := time.Now()
		valid := func() jwtauth.Claims {
			c := jwtauth.Claims{UserID: 30, Username: "x@example.com", TraceID: "t"}
			c.Subject = "30"
			return c
		}
		sign := func(method jwt.SigningMethod, key any, c jwt.Claims, kid string) string {
			tok := jwt.NewWithClaims(method, c)
			if kid != "" {
				tok.Header["kid"] = kid
			}
			s, err := tok.SignedString(key)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		kid := jwtauth.KeyID(e.issuer.Key.Public().(ed25519.PublicKey))
		full := func(c jwtauth.Claims, iat, exp time.Time) jwtauth.Claims {
			c.Issuer, c.Audience = "jeeves4service", jwt.ClaimStrings{"jeeves4service"}
			c.IssuedAt, c.ExpiresAt = jwt.NewNumericDate(iat), jwt.NewNumericDate(exp)
			return c
		}
		_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
		pub := []byte(e.issuer.Key.Public().(ed25519.PublicKey))
		wrongAud := full(valid(), now, now.Add(time.Hour))
		wrongAud.Audience = jwt.ClaimStrings{"someone-else"}
		noExp := full(valid(), now, now.Add(time.Hour))
		noExp.ExpiresAt = nil
		noSub := full(valid(), now, now.Add(time.Hour))
		noSub.Subject = ""
		unsignedNone := sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, full(valid(), now, now.Add(time.Hour)), kid)
		tokens := map[string]string{
			"expired": sign(
				jwt.SigningMethodEdDSA,
				e.issuer.Key,
				full(valid(), now.Add(-2*time.Hour), now.Add(-time.Hour)),
				kid,
			),
			"alg none":              unsignedNone,
			"HS256 with public key": sign(jwt.SigningMethodHS256, pub, full(valid(), now, now.Add(time.Hour)), kid),
			"other key, same kid":   sign(jwt.SigningMethodEdDSA, otherKey, full(valid(), now, now.Add(time.Hour)), kid),
			"unknown kid":           sign(jwt.SigningMethodEdDSA, otherKey, full(valid(), now, now.Add(time.Hour)), "nope"),
			"no kid":                sign(jwt.SigningMethodEdDSA, e.issuer.Key, full(valid(), now, now.Add(time.Hour)), ""),
			"wrong audience":        sign(jwt.SigningMethodEdDSA, e.issuer.Key, wrongAud, kid),
			"no exp":                sign(jwt.SigningMethodEdDSA, e.issuer.Key, noExp, kid),
			"no sub":                sign(jwt.SigningMethodEdDSA, e.issuer.Key, noSub, kid),
			"garbage":               "not.a.jwt",
		}
		for name, tok := range tokens {
			r := testenv.Do(t, "GET", e.url("/api/properties/"), nil, testenv.Bearer(tok)...)
			if r.Status != 401 {
				t.Fatalf("%s: status %d, want 401", name, r.Status)
			}
			r.Problem(t)
		}
		for name, header := range map[string]string{"no scheme": "abc", "basic": "Basic dXNlcjpwYXNz", "empty bearer": "Bearer "} {
			r := testenv.Do(t, "POST", e.url("/api/properties/"), map[string]string{"name": "x"}, "Authorization", header)
			if r.Status != 401 {
				t.Fatalf("%s: status %d, want 401", name, r.Status)
			}
		}
		// Nothing was created by any of them.
		var list struct {
			TotalCount int `json:"total_count"`
		}
		testenv.Do(t, "GET", e.url("/api/properties/"), nil, e.as(t, 30)...).JSON(t, &list)
		if list.TotalCount != 0 {
			t.Fatalf("a rejected request created a property")
		}
	})
}

// POST /api/properties without the trailing slash was a bare "No such
// resource." 404 where the collection lives at /api/properties/. It stays a
// 404 (a redirect would drop a POST's body, and paths are the contract's),
// but the problem names the path to use (issue 36; docs/contract.md).
func TestAMissingTrailingSlashIsA404NamingThePath(t *testing.T) {
	e := start(t, testenv.Engines(t)[0])
	for _, c := range []struct{ method, path, want string }{
		{"POST", "/api/properties", "POST /api/properties/"},
		{"GET", "/api/properties", "GET /api/properties/"},
		{"GET", "/api/property/1/", "GET /api/property/{id}"},
	} {
		r := testenv.DoUnchecked(t, c.method, e.url("%s", c.path), map[string]string{"name": "x"}, e.as(t, 30)...)
		p := r.Problem(t)
		if detail, _ := p["detail"].(string); r.Status != 404 || !strings.Contains(detail, c.want) {
			t.Errorf("%s %s: %d %q, want a 404 naming %s", c.method, c.path, r.Status, detail, c.want)
		}
	}
	if r := testenv.DoUnchecked(t, "GET", e.url("/api/nothing"), nil); r.Status != 404 ||
		r.Problem(t)["detail"] != "No such resource." {
		t.Errorf("an unknown path: %d %s", r.Status, r.Body)
	}
}
