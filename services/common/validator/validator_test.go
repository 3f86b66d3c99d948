package validator_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/jeeves4service/jeeves4service"
	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/services/common/emailaddr"
	"github.com/jeeves4service/jeeves4service/services/common/validator"
)

func TestNewRefusesAValidatorWithoutAuthentication(t *testing.T) {
	spec, err := validator.LoadSpec(context.Background(), jeeves4service.InternalSpec)
	if err != nil {
		t.Fatal(err)
	}
	log, _ := testenv.Logger()
	if _, err := validator.New(spec, validator.Options{Log: log}); err == nil {
		t.Fatal("validator without AuthenticationFunc was built")
	}
}

// Even with a valid user_id, a refusing AuthenticationFunc means 401, and a
// malformed user_id behind a refusing one is still 401: security first.
func TestSecurityFailureIs401NotValidation400(t *testing.T) {
	spec, err := validator.LoadSpec(context.Background(), jeeves4service.InternalSpec)
	if err != nil {
		t.Fatal(err)
	}
	log, _ := testenv.Logger()
	mw, err := validator.New(spec, validator.Options{Log: log, UnauthorizedDetail: "Invalid internal service token",
		Authenticate: func(context.Context, *openapi3filter.AuthenticationInput) error { return errors.New("no") }})
	if err != nil {
		t.Fatal(err)
	}
	reached := false
	h := mw(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached = true }))
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, path := range []string{"/api/internal/properties/users/1", "/api/internal/properties/users/abc"} {
		// Unchecked: the validator alone is not a listener (no budget fields).
		r := testenv.DoUnchecked(t, "GET", srv.URL+path, nil)
		if r.Status != 401 || r.Problem(t)["detail"] != "Invalid internal service token" {
			t.Fatalf("%s: %d %s", path, r.Status, r.Body)
		}
	}
	if reached {
		t.Fatal("handler ran for an unauthenticated call")
	}
}

// A rejected body names the offending field and the rule it broke, never the
// submitted value.
func TestBadBodiesNameTheField(t *testing.T) {
	spec, err := validator.LoadSpec(context.Background(), jeeves4service.PublicSpec)
	if err != nil {
		t.Fatal(err)
	}
	log, _ := testenv.Logger()
	mw, err := validator.New(
		spec,
		validator.Options{Log: log, Authenticate: func(context.Context, *openapi3filter.AuthenticationInput) error { return nil }},
	)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mw(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(201) })))
	defer srv.Close()
	cases := map[string]string{
		`{"address": "x"}`:                       "[map[field:name message:is required]]",
		`{"name": "x", "owner_id": 1}`:           "[map[field:owner_id message:is not a known field]]",
		`{"name": 12}`:                           "[map[field:name message:has the wrong type]]",
		`{"name": ""}`:                           "[map[field:name message:must not be empty]]",
		`{"name": "x", "address": "secret-ish"}`: "",
	}
	for body, want := range cases {
		r := testenv.DoUnchecked(t, "POST", srv.URL+"/api/properties/", body)
		if want == "" {
			if r.Status != 201 {
				t.Fatalf("%s: %d %s", body, r.Status, r.Body)
			}
			continue
		}
		p := r.Problem(t)
		if r.Status != 400 || fmt.Sprint(p["errors"]) != want {
			t.Fatalf("%s: %d, errors %v, want %s", body, r.Status, p["errors"], want)
		}
	}
}

// Issue 25, item 4: a malformed email was answered "does not match the API
// contract" with no errors entry (the generated type's decoding failed after
// the validator), and a JSON body without Content-Type: application/json
// was told "body: is required". Both now name the field and the rule.
func TestEmailAndContentTypeRefusalsNameTheRule(t *testing.T) {
	spec, err := validator.LoadSpec(context.Background(), jeeves4service.PublicSpec)
	if err != nil {
		t.Fatal(err)
	}
	log, _ := testenv.Logger()
	mw, err := validator.New(spec, validator.Options{Log: log,
		Authenticate: func(context.Context, *openapi3filter.AuthenticationInput) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mw(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(201) })))
	defer srv.Close()
	body := func(email string) string {
		return fmt.Sprintf(`{"email": %q, "password": "correct horse battery", "first_name": "A", "last_name": "B"}`, email)
	}
	cases := map[string]emailaddr.Rule{
		`"x@evil.com"@example.com`: emailaddr.RulePlain,
		"Eve <bob@example.com>":    emailaddr.RulePlain,
		"bob@exаmple.com":          emailaddr.RuleScripts,
		"bob@localhost":            emailaddr.RuleDomain,
		"not-an-email":             emailaddr.RuleOneAt,
	}
	for email, rule := range cases {
		r := testenv.DoUnchecked(t, "POST", srv.URL+"/api/users/register", body(email))
		want := fmt.Sprint([]map[string]string{{"field": "email", "message": rule.Message()}})
		if got := fmt.Sprint(r.Problem(t)["errors"]); r.Status != 400 || got != want {
			t.Fatalf("%q: %d, errors %s, want %s", email, r.Status, got, want)
		}
	}
	if r := testenv.DoUnchecked(t, "POST", srv.URL+"/api/users/register", body("ＢＯＢ@Example.com")); r.Status != 201 {
		t.Fatalf("an address with a canonical form: %d %s", r.Status, r.Body)
	}
	for _, contentType := range []string{"text/plain", "application/x-www-form-urlencoded", ""} {
		r := testenv.DoUnchecked(t, "POST", srv.URL+"/api/users/register", body("bob@example.com"), "Content-Type", contentType)
		want := "[map[field:Content-Type message:must be application/json]]"
		if got := fmt.Sprint(r.Problem(t)["errors"]); r.Status != 400 || got != want {
			t.Fatalf("a JSON body sent as %q: %d, errors %s, want %s", contentType, r.Status, got, want)
		}
	}
	if r := testenv.DoUnchecked(t, "POST", srv.URL+"/api/users/register", ""); fmt.Sprint(r.Problem(t)["errors"]) !=
		"[map[field:body message:is required]]" {
		t.Fatalf("no body at all: %s", r.Body)
	}
}
