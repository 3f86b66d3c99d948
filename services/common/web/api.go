package web

import (
	"net/http"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/go-chi/chi/v5"

	"jeeves4service/services/common/jwtauth"
	"jeeves4service/services/common/validator"
)

// BearerAuth is how the public contract's BearerAuth scheme is enforced: the
// JWT middleware verifies the token once, the validator asks for its verdict.
var BearerAuth = validator.Options{Authenticate: jwtauth.Authenticate,
	UnauthorizedDetail: "A valid bearer token is required.", Challenge: `Bearer realm="jeeves4service"`}

// API returns a listener's router with the contract's operations mounted by
// mount behind before... and the validator built from spec. The validator sits
// on the API group only, so /healthz and /readyz stay outside the contract.
func API(b Base, spec *openapi3.T, v validator.Options, before []func(http.Handler) http.Handler, mount func(chi.Router)) (http.Handler, error) {
	v.Log = b.Log
	validate, err := validator.New(spec, v)
	if err != nil {
		return nil, err
	}
	r := NewRouter(b)
	r.Group(func(api chi.Router) {
		api.Use(before...)
		api.Use(validate)
		mount(api)
	})
	return r, nil
}
