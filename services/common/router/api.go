package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/go-chi/chi/v5"

	"github.com/jeeves4service/jeeves4service"
	"github.com/jeeves4service/jeeves4service/services/common/budget"
	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
	"github.com/jeeves4service/jeeves4service/services/common/middleware"
	"github.com/jeeves4service/jeeves4service/services/common/problem"
	"github.com/jeeves4service/jeeves4service/services/common/validator"
)

// BearerAuth is how the public contract's BearerAuth scheme is enforced: the
// JWT middleware verifies the token once, the validator asks for its verdict.
var BearerAuth = validator.Options{Authenticate: jwtauth.Authenticate, Unauthorized: BearerRefusal}

// bearerRealm is the challenge's realm, the same on both services: one
// access token is good at both.
const bearerRealm = `Bearer realm="jeeves4service"`

// BearerRefusal is the 401 for a refused bearer token, as RFC 6750 section 3
// has it: no error code when the request carried no token, invalid_request
// for an Authorization header that is not "Bearer <token>", invalid_token
// otherwise, with an error_description (and the problem's detail and type)
// that tells an expired token, which a refresh replaces, from one that was
// never valid, after which only a new login helps.
func BearerRefusal(errs []error) (problem.Problem, string) {
	is := func(target error) bool {
		return slices.ContainsFunc(errs, func(err error) bool { return errors.Is(err, target) })
	}
	switch {
	case is(jwtauth.ErrNoToken):
		return problem.New(http.StatusUnauthorized, "A valid bearer token is required."), bearerRealm
	case is(jwtauth.ErrMalformed):
		return problem.New(http.StatusUnauthorized, "The Authorization header must be \"Bearer <token>\"."),
			bearerRealm + `, error="invalid_request", error_description="The Authorization header is not Bearer <token>"`
	case is(jwtauth.ErrExpired):
		p := problem.New(http.StatusUnauthorized, "The access token has expired: refresh it (POST /api/users/refresh) or sign in again.")
		p.Type = problem.TypeTokenExpired
		return p, bearerRealm + `, error="invalid_token", error_description="The access token expired"`
	default:
		return problem.New(http.StatusUnauthorized, "The bearer token is not valid: sign in again."),
			bearerRealm + `, error="invalid_token", error_description="The access token is not valid"`
	}
}

// Contract is what a listener serves: the loaded contract it validates
// against, and its YAML and rendered docs page for /openapi.yaml and /docs.
type Contract struct {
	Spec *openapi3.T
	YAML []byte
	Page []byte // gzip-compressed
}

// API is one listener's API: what it serves and how its callers are checked.
type API struct {
	Base     Base
	Contract Contract
	// Security enforces the contract's security schemes (in the validator).
	Security validator.Options
	// Before runs ahead of the validator, inside the API group: the middleware
	// that verifies a credential once so the validator's AuthenticationFunc can
	// read the verdict (jwtauth.Middleware), the request budget, or the token
	// guard's failure budget.
	Before []func(http.Handler) http.Handler
	// After runs once the validator accepted the request (the internal
	// listener's request budget per caller: the caller is known only then).
	After []func(http.Handler) http.Handler
	// Mount registers the generated server's routes on the API group.
	Mount func(chi.Router)
}

// PublicAPI is a public listener's API: the public contract's operations
// tagged tag (the service's part of it), the before middleware ahead of the
// validator (bearer tokens verified once, for its AuthenticationFunc to read),
// and the operations mount registers.
func PublicAPI(base Base, tag string, before []func(http.Handler) http.Handler, mount func(chi.Router)) (API, error) {
	spec, err := validator.LoadSpec(context.Background(), jeeves4service.PublicSpec)
	if err != nil {
		return API{}, fmt.Errorf("load public contract: %w", err)
	}
	contract := Contract{Spec: validator.ForTag(spec, tag), YAML: jeeves4service.PublicSpec, Page: jeeves4service.PublicDocs}
	return API{Base: base, Contract: contract,
		Security: BearerAuth, Before: before, Mount: mount}, nil
}

// InternalContract is the internal contract's operations tagged tag (the
// ones a service serves), its YAML and docs page, for an internal listener.
func InternalContract(tag string) (Contract, error) {
	spec, err := validator.LoadSpec(context.Background(), jeeves4service.InternalSpec)
	if err != nil {
		return Contract{}, fmt.Errorf("load internal contract: %w", err)
	}
	return Contract{Spec: validator.ForTag(spec, tag), YAML: jeeves4service.InternalSpec, Page: jeeves4service.InternalDocs}, nil
}

// Handler returns the listener's router: shared middleware, /healthz,
// /readyz, the docs, and the contract's operations behind Before and the
// validator built from the contract. The validator sits on the API group
// only, so health and docs stay outside it; the docs spend Base.Requests.
func (a API) Handler() (http.Handler, error) {
	v := a.Security
	v.Log = a.Base.Log
	validate, err := validator.New(a.Contract.Spec, v)
	if err != nil {
		return nil, err
	}
	r := NewRouter(a.Base)
	var docsErr error
	r.Group(func(docs chi.Router) {
		docs.Use(OutsideBudget(a.Base))
		docsErr = Docs(docs, a.Contract.Page, a.Contract.YAML)
	})
	if docsErr != nil {
		return nil, docsErr
	}
	r.Group(func(api chi.Router) {
		// First in the group: the budgets in Before and After record their
		// decision, and every answer of the group carries its fields.
		api.Use(budget.Fields)
		api.Use(a.Before...)
		api.Use(middleware.LimitBody(middleware.MaxBodyBytes))
		api.Use(validate)
		// After the validator, so that a caller without valid credentials is
		// told 401 before anything else about the request is looked at.
		api.Use(middleware.RejectSecretsInQuery)
		api.Use(a.After...)
		a.Mount(api)
	})
	return r, nil
}

// StrictErrors are the error handlers every generated strict server gets,
// writing problem+json (the library's defaults answer text/plain). Each
// generated package's StrictHTTPServerOptions has this shape, so it converts:
// propertyapi.StrictHTTPServerOptions(router.NewStrictErrors(log)).
type StrictErrors struct {
	RequestErrorHandlerFunc  func(w http.ResponseWriter, r *http.Request, err error)
	ResponseErrorHandlerFunc func(w http.ResponseWriter, r *http.Request, err error)
}

// NewStrictErrors returns the problem+json error handlers for a strict server.
func NewStrictErrors(log *slog.Logger) StrictErrors {
	return StrictErrors{RequestErrorHandlerFunc: problem.RequestErrorHandler(log),
		ResponseErrorHandlerFunc: problem.ResponseErrorHandler(log)}
}
