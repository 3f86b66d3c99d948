package validator

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/jeeves4service/jeeves4service"
)

// planned is one contract's validator twice: with plans, and with every
// operation left to kin-openapi's ValidateRequest (the reference).
type planned struct {
	fast, reference *validating
	ops             []*operation // the operations that have a plan
}

func newPlanned(t testing.TB, data []byte) planned {
	spec, err := LoadSpec(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	// A credential is good when X-Test-Auth says so, whatever the scheme.
	o := Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), UnauthorizedDetail: "no",
		Authenticate: func(_ context.Context, in *openapi3filter.AuthenticationInput) error {
			if in.RequestValidationInput.Request.Header.Get("X-Test-Auth") == "ok" {
				return nil
			}
			return errors.New("refused")
		}}
	var p planned
	if p.fast, err = newValidating(spec, o, true); err != nil {
		t.Fatal(err)
	}
	if p.reference, err = newValidating(spec, o, false); err != nil {
		t.Fatal(err)
	}
	for _, path := range spec.Paths.InMatchingOrder() {
		for _, method := range methods {
			if op := p.fast.routes[path][method]; op != nil && op.plan != nil {
				p.ops = append(p.ops, op)
			}
		}
	}
	return p
}

// serve runs one request through a validator around a handler that answers 204.
func serve(v *validating, method, path, query string, header http.Header) (int, string, bool) {
	reached := false
	h := v.middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		reached = true
		w.WriteHeader(http.StatusNoContent)
	}))
	r := (&http.Request{Method: method, URL: &url.URL{Path: path, RawQuery: query}, Header: header,
		Body: http.NoBody, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}).WithContext(context.Background())
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code, w.Body.String(), reached
}

// The plans must cover the operation they exist for, and only operations
// without a body.
func TestPlansCoverTheInternalCall(t *testing.T) {
	internal := newPlanned(t, jeeves4service.InternalSpec)
	if !slices.ContainsFunc(internal.ops, func(o *operation) bool { return o.route.Operation.OperationID == "getUserProperties" }) {
		t.Fatal("getUserProperties has no plan: the internal call would go through kin-openapi's generic path")
	}
	public := newPlanned(t, jeeves4service.PublicSpec)
	for _, o := range append(internal.ops, public.ops...) {
		if o.route.Operation.RequestBody != nil {
			t.Fatalf("%s has a body and a plan", o.route.Operation.OperationID)
		}
	}
	t.Logf("planned: %d internal, %d public operations", len(internal.ops), len(public.ops))
}

// A keyword a plan does not know leaves the operation to kin-openapi.
func TestUnknownKeywordsFallBackToKinOpenAPI(t *testing.T) {
	for name, edit := range map[string]func(*openapi3.Schema){
		"multipleOf":   func(s *openapi3.Schema) { m := 2.0; s.MultipleOf = &m },
		"enum":         func(s *openapi3.Schema) { s.Enum = []any{1, 2} },
		"nullable":     func(s *openapi3.Schema) { s.Nullable = true },
		"exclusiveMin": func(s *openapi3.Schema) { b := true; s.ExclusiveMin = openapi3.ExclusiveBound{Bool: &b} },
		"format":       func(s *openapi3.Schema) { s.Format = "uint8" },
		"not":          func(s *openapi3.Schema) { s.Not = openapi3.NewSchemaRef("", openapi3.NewStringSchema()) },
	} {
		t.Run(name, func(t *testing.T) {
			spec, err := LoadSpec(context.Background(), jeeves4service.InternalSpec)
			if err != nil {
				t.Fatal(err)
			}
			path := "/api/internal/properties/users/{user_id}"
			op := spec.Paths.Value(path).Get
			if compilePlan(routeOf(spec, path, op)) == nil {
				t.Fatal("the unedited operation has no plan")
			}
			edit(op.Parameters.GetByInAndName("path", "user_id").Schema.Value)
			if compilePlan(routeOf(spec, path, op)) != nil {
				t.Fatalf("a plan was compiled for a schema with %s", name)
			}
		})
	}
}

// FuzzPlanAgreesWithKinOpenAPI sends the same request to a planned operation
// through its plan and through kin-openapi's ValidateRequest: the status, the
// problem body and whether the handler ran must be the same.
func FuzzPlanAgreesWithKinOpenAPI(f *testing.F) {
	contracts := []planned{newPlanned(f, jeeves4service.InternalSpec), newPlanned(f, jeeves4service.PublicSpec)}
	for _, seg := range []string{"1", "0", "-1", "+1", "01", "", " 1", "1.0", "1e3", "0x10", "abc", "9223372036854775807",
		"9223372036854775808", "-9223372036854775808", "１", "é"} {
		f.Add(uint8(0), seg, "", uint8(0), "", true)
	}
	for _, q := range []string{"limit=100", "limit=", "limit=0", "limit=1000", "limit=1001", "limit=2147483648", "limit=1&limit=2",
		"limit=&limit=5", "limit=&limit=", "limit=abc", "limit=%31", "limit=%zz", "limit=1;x=2", "limit", "&&limit=7&",
		"x=1&limit=+3", "limit=1%2B1", "li%6Dit=9", "limit==1"} {
		f.Add(uint8(0), "1", q, uint8(0), "", true)
	}
	for _, h := range []string{"", "abc", "a.b_c-D9", strings.Repeat("a", 64), strings.Repeat("a", 65), "bad value", "é", "x\n"} {
		f.Add(uint8(0), "1", "", uint8(1), h, true)
		f.Add(uint8(0), "abc", "limit=0", uint8(1), h, false)
	}
	for i := range uint8(12) {
		f.Add(i, "7", "limit=3", uint8(2), "abc", true)
	}
	f.Fuzz(func(t *testing.T, which uint8, seg, query string, headerMode uint8, headerValue string, auth bool) {
		c := contracts[int(which)%len(contracts)]
		if len(c.ops) == 0 {
			t.Skip("no planned operation in this contract")
		}
		op := c.ops[int(which/2)%len(c.ops)]
		var path strings.Builder // every {param} of the template becomes seg
		for rest := op.route.Path; rest != ""; {
			before, after, ok := strings.Cut(rest, "{")
			path.WriteString(before)
			if !ok {
				break
			}
			path.WriteString(seg)
			_, rest, _ = strings.Cut(after, "}")
		}
		header := http.Header{}
		if auth {
			header.Set("X-Test-Auth", "ok")
		}
		switch headerMode % 3 {
		case 1:
			header["X-Request-Id"] = []string{headerValue}
		case 2:
			header["X-Request-Id"] = []string{headerValue, "second"}
		}
		fs, fb, fr := serve(c.fast, op.route.Method, path.String(), query, header.Clone())
		rs, rb, rr := serve(c.reference, op.route.Method, path.String(), query, header.Clone())
		if fs != rs || fb != rb || fr != rr {
			t.Fatalf("%s %s?%s X-Request-ID %q:\nplan:        %d %s reached=%v\nkin-openapi: %d %s reached=%v",
				op.route.Method, path.String(), query, header["X-Request-Id"], fs, fb, fr, rs, rb, rr)
		}
	})
}

func routeOf(spec *openapi3.T, path string, op *openapi3.Operation) *routers.Route {
	return &routers.Route{Spec: spec, Path: path, PathItem: spec.Paths.Value(path), Method: http.MethodGet, Operation: op}
}

// BenchmarkInternalCall is the internal call's validation through its plan
// and through kin-openapi's ValidateRequest, in the same run.
func BenchmarkInternalCall(b *testing.B) {
	p := newPlanned(b, jeeves4service.InternalSpec)
	header := http.Header{"X-Test-Auth": {"ok"}, "X-Request-Id": {"3f2b1c0e9d8a7b6c"}}
	for _, c := range []struct {
		name string
		v    *validating
	}{{"plan", p.fast}, {"kin-openapi", p.reference}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			h := c.v.middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
			r := (&http.Request{Method: "GET", URL: &url.URL{Path: "/api/internal/properties/users/42", RawQuery: "limit=100"},
				Header: header, Body: http.NoBody}).WithContext(context.Background())
			w := httptest.NewRecorder()
			for b.Loop() {
				h.ServeHTTP(w, r)
			}
		})
	}
}

// The contract's header pattern takes the table, and a pattern of another
// shape keeps the regexp.
func TestByteClassOnlyForSimplePatterns(t *testing.T) {
	for pattern, want := range map[string]bool{
		`^[A-Za-z0-9._-]+$`: true, `^[a-z]*$`: true, `^[a-z]+`: false, `[a-z]+$`: false,
		`^[a-zé]+$`: false, `^(?i)[a-z]+$`: false /* folds to ſ and K */, `^[a-z]{2}$`: false, `^[^a-z]+$`: false, `^a+$`: false,
	} {
		if got := classOf(pattern) != nil; got != want {
			t.Errorf("%s: table %v, want %v", pattern, got, want)
		}
	}
}
