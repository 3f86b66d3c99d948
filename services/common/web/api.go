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

// Contract is what a listener serves: the loaded contract it validates
// against, and its YAML and rendered docs page for /openapi.yaml and /docs.
type Contract struct {
	Spec *openapi3.T
	YAML []byte
	Page []byte
}

// API returns a listener's router with the contract's operations mounted by
// mount behind before... and the validator built from the contract. The
// validator sits on the API group only, so /healthz, /readyz and the docs stay
// outside it.
func API(b Base, c Contract, v validator.Options, before []func(http.Handler) http.Handler, mount func(chi.Router)) (http.Handler, error) {
	v.Log = b.Log
	validate, err := validator.New(c.Spec, v)
	if err != nil {
		return nil, err
	}
	r := NewRouter(b)
	if err := Docs(r, c.Page, c.YAML); err != nil {
		return nil, err
	}
	r.Group(func(api chi.Router) {
		api.Use(before...)
		api.Use(validate)
		mount(api)
	})
	return r, nil
}
