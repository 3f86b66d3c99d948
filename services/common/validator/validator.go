// Package validator builds the request-validation middleware from an OpenAPI
// contract (kin-openapi through oapi-codegen's nethttp-middleware) and answers
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
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	nethttpmiddleware "github.com/oapi-codegen/nethttp-middleware"

	"jeeves4service/services/common/problem"
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
	Log       *slog.Logger
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

// New returns middleware validating requests against spec. Mount it on the
// router that serves the API only: /healthz is not in the contract.
func New(spec *openapi3.T, o Options) (func(http.Handler) http.Handler, error) {
	if o.Authenticate == nil {
		return nil, errors.New("validator: an AuthenticationFunc is required (fail closed)")
	}
	if o.Log == nil {
		return nil, errors.New("validator: a logger is required")
	}
	h := &errorHandler{o: o}
	return nethttpmiddleware.OapiRequestValidatorWithOptions(spec, &nethttpmiddleware.Options{
		Options: openapi3filter.Options{
			AuthenticationFunc: o.Authenticate,
			// kin-openapi's schema errors quote the submitted value; a rejected
			// password or token must never be echoed, so leave details out.
			SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.DisableSchemaErrorDetails()},
			// MultiError stays off: with it a bad token plus a bad body is a 500.
		},
		// The spec's servers name the default make-run addresses; the service may
		// listen anywhere (tests use 127.0.0.1:0), so the Host is not matched.
		DoNotValidateServers:  true,
		SilenceServersWarning: true,
		ErrorHandlerWithOpts:  h.handle,
	}), nil
}

type errorHandler struct{ o Options }

func (h *errorHandler) handle(
	ctx context.Context,
	err error,
	w http.ResponseWriter,
	r *http.Request,
	opts nethttpmiddleware.ErrorHandlerOpts,
) {
	var secErr *openapi3filter.SecurityRequirementsError
	var reqErr *openapi3filter.RequestError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &secErr):
		if h.o.Challenge != "" {
			w.Header().Set("WWW-Authenticate", h.o.Challenge)
		}
		problem.Write(w, r, problem.New(http.StatusUnauthorized, h.o.UnauthorizedDetail))
	case errors.Is(err, routers.ErrMethodNotAllowed):
		problem.Write(w, r, problem.New(http.StatusMethodNotAllowed, "This method is not allowed here."))
	case opts.MatchedRoute == nil:
		problem.Write(w, r, problem.New(http.StatusNotFound, "No such resource."))
	case errors.As(err, &tooBig):
		problem.Write(w, r, problem.New(http.StatusRequestEntityTooLarge, "The request body is too large."))
	case errors.As(err, &reqErr):
		problem.Write(w, r, problem.New(http.StatusBadRequest, "The request does not match the API contract.", FieldErrors(reqErr)...))
	default:
		h.o.Log.ErrorContext(ctx, "request validation failed unexpectedly", "method", r.Method, "path", r.URL.Path, "error", err.Error())
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

// FieldErrors names the fields a RequestError is about, built from field
// names and schema keywords only.
func FieldErrors(e *openapi3filter.RequestError) []problem.FieldError {
	var schemaErr *openapi3.SchemaError
	hasSchemaErr := errors.As(e.Err, &schemaErr)
	msg := "is invalid"
	if hasSchemaErr {
		if m, ok := messages[schemaErr.SchemaField]; ok {
			msg = m
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
		if e.Err == nil || strings.Contains(e.Reason, "required") {
			return []problem.FieldError{{Field: "body", Message: "is required"}}
		}
		return []problem.FieldError{{Field: "body", Message: "is not valid JSON of the expected shape"}}
	}
	return nil
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
