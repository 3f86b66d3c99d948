// Package validator builds the request-validation middleware from an OpenAPI
// contract (kin-openapi's openapi3filter) and answers
// every rejection with a problem+json body. It is where a contract's security
// schemes are enforced: the AuthenticationFunc given here decides, and a
// refusal becomes a 401, never the 400 the library would pick on its own.
package validator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/go-chi/chi/v5"

	"github.com/jeeves4service/jeeves4service/services/common/emailaddr"
	"github.com/jeeves4service/jeeves4service/services/common/problem"
	"github.com/jeeves4service/jeeves4service/services/common/reqinfo"
)

// Options configure a validator.
type Options struct {
	// Authenticate enforces the contract's security schemes. Required: a
	// validator without one would be a door without a lock, so New refuses.
	Authenticate openapi3filter.AuthenticationFunc
	// UnauthorizedDetail is the detail of the 401 problem.
	UnauthorizedDetail string
	// Challenge, when set, is sent as WWW-Authenticate with a 401.
	Challenge string
	// Unauthorized, when set, answers a refused credential in place of
	// UnauthorizedDetail and Challenge, from what Authenticate returned
	// (one error per security requirement): a bearer token that expired is
	// answered differently from one that was never valid.
	Unauthorized func(errs []error) (p problem.Problem, challenge string)
	Log          *slog.Logger
}

// LoadSpec parses and validates an OpenAPI document.
func LoadSpec(ctx context.Context, data []byte) (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("load OpenAPI document: %w", err)
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("validate OpenAPI document: %w", err)
	}
	return doc, nil
}

// ForTag returns a copy of doc with only the operations tagged tag: the
// public contract serves two services, and each listener validates only its
// own operations. (oapi-codegen's embedded GetSpec does filter by tag, but it
// also rewrites operationIds into Go names; logs and metrics must name
// operations as the contract does.)
func ForTag(doc *openapi3.T, tag string) *openapi3.T {
	out := *doc
	out.Paths = openapi3.NewPaths()
	for _, path := range doc.Paths.InMatchingOrder() {
		item := *doc.Paths.Value(path)
		keep := false
		for method, op := range doc.Paths.Value(path).Operations() {
			if slices.Contains(op.Tags, tag) {
				keep = true
			} else {
				item.SetOperation(method, nil)
			}
		}
		if keep {
			out.Paths.Set(path, &item)
		}
	}
	return &out
}

// New returns middleware validating requests against spec. Mount it on the
// router that serves the API only: /healthz is not in the contract.
//
// For each request it finds the contract's operation (with chi's radix tree,
// built from the contract's paths: the same matcher the generated routes
// use, and cheaper than kin-openapi's gorilla/mux router), records its
// operationId in reqinfo for logs and metrics, and has kin-openapi validate
// the request: security requirements first (so an unauthenticated caller
// never learns how parameters are validated), then every parameter and the
// body. An operation with plain parameters and no body is checked by its
// plan (plan.go), compiled from the same contract and held to kin-openapi's
// verdicts by a differential fuzz test; the rest by ValidateRequest. The
// spec's servers are not matched: the service may listen anywhere (tests use
// 127.0.0.1:0).
func New(spec *openapi3.T, o Options) (func(http.Handler) http.Handler, error) {
	v, err := newValidating(spec, o, compiledPlans != "off")
	if err != nil {
		return nil, err
	}
	return v.middleware, nil
}

// compiledPlans is "off" only in a binary linked with
// -ldflags=-X=github.com/jeeves4service/jeeves4service/services/common/validator.compiledPlans=off:
// make bench-instructions builds one to measure what the plans save against
// kin-openapi's ValidateRequest.
var compiledPlans = "on"

// newValidating builds the validator; withPlans false leaves every operation
// to kin-openapi's ValidateRequest (the tests' reference).
func newValidating(spec *openapi3.T, o Options, withPlans bool) (*validating, error) {
	if o.Authenticate == nil {
		return nil, errors.New("validator: an AuthenticationFunc is required (fail closed)")
	}
	if o.Log == nil {
		return nil, errors.New("validator: a logger is required")
	}
	v := &validating{o: o, matcher: chi.NewMux(), routes: map[string]map[string]*operation{}, opts: &openapi3filter.Options{
		AuthenticationFunc: o.Authenticate,
		// kin-openapi's schema errors quote the submitted value; a rejected
		// password or token must never be echoed, so leave details out.
		// `format: email` is emailaddr's plain address (kin-openapi checks no
		// email format of its own), for this validator only, not process-wide.
		SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.DisableSchemaErrorDetails(),
			openapi3.WithStringFormatValidator("email", openapi3.NewCallbackValidator(emailaddr.Valid))},
		// MultiError stays off: the first failure (security first) decides.
	}}
	noop := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	for _, path := range spec.Paths.InMatchingOrder() {
		item := spec.Paths.Value(path)
		v.routes[path] = map[string]*operation{}
		for method, op := range item.Operations() {
			route := &routers.Route{Spec: spec, Path: path, PathItem: item, Method: method, Operation: op}
			o := &operation{route: route}
			if withPlans {
				o.plan = compilePlan(route)
			}
			v.routes[path][method] = o
			v.matcher.Method(method, path, noop)
		}
	}
	return v, nil
}

type validating struct {
	o       Options
	opts    *openapi3filter.Options
	matcher *chi.Mux
	routes  map[string]map[string]*operation // path template, method
}

// operation is a contract operation and, when it has one, its plan.
type operation struct {
	route *routers.Route
	plan  *plan
}

// routeContexts recycles chi's matching state (it is only read during the
// validation, never kept).
var routeContexts = sync.Pool{New: func() any { return chi.NewRouteContext() }}

// inputs recycles a plan's validation input (kin-openapi's security check
// takes it by pointer, so it would be allocated on every call): nothing
// keeps it once the request is validated, or its refusal written.
var inputs = sync.Pool{New: func() any { return new(openapi3filter.RequestValidationInput) }}

var methods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

func (v *validating) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rctx := routeContexts.Get().(*chi.Context)
		defer routeContexts.Put(rctx)
		rctx.Reset()
		op := v.routes[v.matcher.Find(rctx, r.Method, r.URL.Path)][r.Method]
		if op == nil {
			for _, m := range methods {
				rctx.Reset()
				if v.matcher.Match(rctx, m, r.URL.Path) {
					problem.Write(w, r, problem.New(http.StatusMethodNotAllowed, "This method is not allowed here."))
					return
				}
			}
			problem.Write(w, r, problem.New(http.StatusNotFound, "No such resource."))
			return
		}
		info := reqinfo.From(r.Context())
		info.Operation, info.Route = op.route.Operation.OperationID, op.route.Path
		if v.check(w, r, rctx, op) {
			next.ServeHTTP(w, r)
		}
	})
}

// check validates r against op, through op's plan when it has one, and
// answers a refusal itself; it reports whether r may go on.
func (v *validating) check(w http.ResponseWriter, r *http.Request, rctx *chi.Context, op *operation) bool {
	if op.plan == nil {
		params := make(map[string]string, len(rctx.URLParams.Keys))
		for i, k := range rctx.URLParams.Keys {
			params[k] = rctx.URLParams.Values[i]
		}
		err := openapi3filter.ValidateRequest(r.Context(), &openapi3filter.RequestValidationInput{
			Request: r, PathParams: params, Route: op.route, Options: v.opts})
		if err != nil {
			v.reject(r.Context(), err, w, r)
		}
		return err == nil
	}
	in := inputs.Get().(*openapi3filter.RequestValidationInput)
	*in = openapi3filter.RequestValidationInput{Request: r, Route: op.route, Options: v.opts}
	err := op.plan.validate(r.Context(), rctx, in)
	if err != nil {
		v.reject(r.Context(), err, w, r) // before the input goes back: kin-openapi's errors point at it
	}
	*in = openapi3filter.RequestValidationInput{}
	inputs.Put(in)
	return err == nil
}

// reject answers a failed validation: a failed security requirement is a 401
// (kin-openapi alone would make it a 400), a broken parameter or body a 400
// naming the fields.
func (v *validating) reject(ctx context.Context, err error, w http.ResponseWriter, r *http.Request) {
	var secErr *openapi3filter.SecurityRequirementsError
	var reqErr *openapi3filter.RequestError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		// First: kin-openapi reads the body while it checks the security
		// requirement, so a body over the limit surfaces inside a security
		// error, though the credential was never the problem.
		problem.Write(w, r, problem.New(http.StatusRequestEntityTooLarge, "The request body is too large."))
	case errors.As(err, &secErr):
		p, challenge := problem.New(http.StatusUnauthorized, v.o.UnauthorizedDetail), v.o.Challenge
		if v.o.Unauthorized != nil {
			p, challenge = v.o.Unauthorized(secErr.Errors)
		}
		if challenge != "" {
			w.Header().Set("WWW-Authenticate", challenge)
		}
		problem.Write(w, r, p)
	case errors.As(err, &reqErr):
		problem.Write(w, r, problem.New(http.StatusBadRequest, "The request does not match the API contract.", FieldErrors(reqErr)...))
	default:
		v.o.Log.ErrorContext(ctx, "request validation failed unexpectedly", "method", r.Method, "path", r.URL.Path, "error", err.Error())
		problem.Write(w, r, problem.New(http.StatusInternalServerError, "The server could not complete the request."))
	}
}

// messages say what rule a field broke, in words that never quote the value.
var messages = map[string]string{
	"required":      "is required",
	"type":          "has the wrong type",
	"minLength":     "is too short",
	"maxLength":     "is too long",
	"pattern":       "has an invalid format",
	"format":        "has an invalid format",
	"enum":          "is not one of the allowed values",
	"minimum":       "is out of range",
	"maximum":       "is out of range",
	"minProperties": "needs at least one field",
	"nullable":      "must not be null",
}

// lengthRule says a string length rule with its bound ("must be at least
// 12 characters"): "is too short" left a newcomer guessing the password's
// minimum. The bound is the contract's, never the value's length.
func lengthRule(e *openapi3.SchemaError) string {
	if e.Schema == nil {
		return ""
	}
	switch {
	case e.SchemaField == "minLength" && e.Schema.MinLength == 1:
		return "must not be empty"
	case e.SchemaField == "minLength":
		return fmt.Sprintf("must be at least %d characters", e.Schema.MinLength)
	case e.SchemaField == "maxLength" && e.Schema.MaxLength != nil:
		return fmt.Sprintf("must be at most %d characters", *e.Schema.MaxLength)
	}
	return ""
}

// FieldErrors names the fields a RequestError is about, built from field
// names and schema keywords only. A field name can come from the client (an
// unknown key), so it is cut to 100 characters and any character outside
// [A-Za-z0-9_.-] shows as "?" (the contract's FieldError pattern).
func FieldErrors(e *openapi3filter.RequestError) []problem.FieldError {
	out := fieldErrors(e)
	for i := range out {
		out[i].Field = safeField(out[i].Field)
	}
	return out
}

func safeField(f string) string {
	b := []byte(f)
	if len(b) > 100 {
		b = b[:100]
	}
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			b[i] = '?'
		}
	}
	if len(b) == 0 {
		return "body"
	}
	return string(b)
}

func fieldErrors(e *openapi3filter.RequestError) []problem.FieldError {
	var schemaErr *openapi3.SchemaError
	hasSchemaErr := errors.As(e.Err, &schemaErr)
	msg := "is invalid"
	if hasSchemaErr {
		if m, ok := messages[schemaErr.SchemaField]; ok {
			msg = m
		}
		if m := lengthRule(schemaErr); m != "" {
			msg = m
		}
		var badEmail *emailaddr.Error
		if schemaErr.SchemaField == "format" && errors.As(schemaErr, &badEmail) {
			msg = badEmail.Rule.Message() // which rule, in words that never quote the address
		}
	}
	switch {
	case e.Parameter != nil:
		if e.Err != nil && strings.Contains(e.Err.Error(), "must have a value") {
			msg = "is required"
		}
		return []problem.FieldError{{Field: e.Parameter.Name, Message: msg}}
	case hasSchemaErr:
		// The path already ends in a missing required property; an unknown
		// property is named only in the reason (`property "x" is unsupported`,
		// reported against the object's "properties").
		field := strings.Join(schemaErr.JSONPointer(), ".")
		if schemaErr.SchemaField == "properties" && strings.HasSuffix(schemaErr.Reason, "is unsupported") {
			msg = "is not a known field"
			if name := quoted(schemaErr.Reason); name != "" {
				field = strings.TrimPrefix(field+"."+name, ".")
			}
		}
		if field == "" {
			field = "body"
		}
		return []problem.FieldError{{Field: field, Message: msg}}
	case e.RequestBody != nil:
		if strings.HasPrefix(e.Reason, "header Content-Type has unexpected value") {
			// A body the contract does not take in this media type (kin-openapi
			// reads no further): say which it takes, not that it is missing.
			return []problem.FieldError{{Field: "Content-Type", Message: "must be " + mediaTypes(e.RequestBody)}}
		}
		if e.Err == nil || errors.Is(e.Err, openapi3filter.ErrInvalidRequired) || strings.Contains(e.Reason, "required") {
			return []problem.FieldError{{Field: "body", Message: "is required"}}
		}
		return []problem.FieldError{{Field: "body", Message: "is not valid JSON of the expected shape"}}
	}
	return nil
}

// mediaTypes lists the media types a request body may be sent as.
func mediaTypes(body *openapi3.RequestBody) string {
	types := make([]string, 0, len(body.Content))
	for t := range body.Content {
		types = append(types, t)
	}
	slices.Sort(types)
	return strings.Join(types, " or ")
}

// quoted returns the first "double-quoted" word in s (a property name in
// kin-openapi's reasons: `property "email" is missing`).
func quoted(s string) string {
	start := strings.IndexByte(s, '"')
	if start < 0 {
		return ""
	}
	end := strings.IndexByte(s[start+1:], '"')
	if end < 0 {
		return ""
	}
	return s[start+1 : start+1+end]
}
