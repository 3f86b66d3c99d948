package contract_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jeeves4service/jeeves4service/internal/testkit/contract"
)

// A deliberately broken handler must be caught, with the operation and the
// mismatch named: this is what makes the contract impossible to drift from.
func TestBrokenHandlersAreCaught(t *testing.T) {
	goodProperty := `{"id":1,"name":"Cottage","address":"","access_level":"owner","created_at":"2026-11-28T12:00:00Z"}`
	goodSession := `{"token":"h.p.s","token_type":"Bearer","expires_at":"2026-11-28T12:00:00Z","properties_included":true,` +
		`"refresh_token":"3q2-7wAAAAAvJy6Z2m8m0b4kFQhU8m1Yh5C0bLwQx2A"}`
	cases := []struct {
		name, method, path, body string
		handler                  http.HandlerFunc
		wantOK                   bool
		want                     string
	}{
		{"correct handler", "GET", "/api/property/1", "", jsonHandler(200, goodProperty, nil), true, ""},
		{"wrong field name", "GET", "/api/property/1", "", jsonHandler(200, strings.Replace(goodProperty, `"name"`, `"title"`, 1), nil),
			false, "operation getProperty"},
		{"undeclared status", "GET", "/api/property/1", "", jsonHandler(418, `{}`, nil), false, "operation getProperty"},
		{"missing header", "POST", "/api/users/authenticate", `{"email":"a@example.com","password":"x"}`,
			jsonHandler(200, goodSession, nil), false, "operation authenticateUser"},
		{"header present", "POST", "/api/users/authenticate", `{"email":"a@example.com","password":"x"}`,
			jsonHandler(200, goodSession, map[string]string{"Authorization": "Bearer h.p.s", "Cache-Control": "no-store"}), true, ""},
		{"wrong content type for an error", "GET", "/api/property/1", "", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "not found", 404)
		}, false, "operation getProperty"},
		{
			"forbidden request answered 200",
			"GET",
			"/api/property/0",
			"",
			jsonHandler(200, goodProperty, nil),
			false,
			"forbids this request",
		},
		{
			"internal failure",
			"GET",
			"/api/property/1",
			"",
			jsonHandler(500, `{"type":"x","title":"x","status":500,"detail":"x"}`, nil),
			false,
			"500",
		},
	}
	for _, c := range cases {
		srv := httptest.NewServer(c.handler)
		req, _ := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
		req.Header.Set("Authorization", "Bearer t")
		if c.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body json.RawMessage
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		_, err = contract.Check(req, []byte(c.body), resp, body)
		srv.Close()
		if c.wantOK && err != nil {
			t.Fatalf("%s: unexpected mismatch: %v", c.name, err)
		}
		if !c.wantOK && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Fatalf("%s: want a mismatch naming %q, got %v", c.name, c.want, err)
		}
		if err != nil {
			t.Logf("%s: %v", c.name, err)
		}
	}
}

func jsonHandler(status int, body string, headers map[string]string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		// Every answer carries the budget fields the contracts declare.
		w.Header().Set("RateLimit-Policy", `"requests";q=600;w=60`)
		w.Header().Set("RateLimit", `"requests";r=599;t=0`)
		for k, v := range headers {
			w.Header().Set(k, v)
		}
		ct := "application/json"
		if status >= 400 {
			ct = "application/problem+json"
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}
