// Package problem writes RFC 9457 application/problem+json responses. It is the
// one place that maps a failure kind to an HTTP status, used by the validator's
// error handler, the strict servers' error handlers and the handlers themselves.
package problem

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"time"

	"github.com/jeeves4service/jeeves4service/services/common/apperr"
	"github.com/jeeves4service/jeeves4service/services/common/reqinfo"
)

// ContentType is the media type of every error body.
const ContentType = "application/problem+json"

// TypeBase is the base URI of this project's problem types.
const TypeBase = "https://jeeves4service.dev/problems/"

// TypeTokenExpired is the type of the 401 for an access token that is
// valid but for its expiry: a client tells "refresh" from "sign in again"
// by it, as by the WWW-Authenticate challenge's error_description.
const TypeTokenExpired = TypeBase + "token-expired"

// FieldError names one offending field; Message never repeats the submitted value.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Problem is an RFC 9457 body.
type Problem struct {
	Type     string       `json:"type"`
	Title    string       `json:"title"`
	Status   int          `json:"status"`
	Detail   string       `json:"detail"`
	Instance string       `json:"instance,omitempty"`
	Errors   []FieldError `json:"errors,omitempty"`
}

var slugs = map[int]string{
	http.StatusBadRequest:            "validation",
	http.StatusUnauthorized:          "unauthorized",
	http.StatusForbidden:             "forbidden",
	http.StatusNotFound:              "not-found",
	http.StatusMethodNotAllowed:      "method-not-allowed",
	http.StatusConflict:              "conflict",
	http.StatusRequestEntityTooLarge: "too-large",
	http.StatusUnsupportedMediaType:  "unsupported-media-type",
	http.StatusTooManyRequests:       "rate-limited",
	http.StatusInternalServerError:   "internal",
	http.StatusServiceUnavailable:    "unavailable",
}

// New builds a problem for status with a safe, human-readable detail.
func New(status int, detail string, fields ...FieldError) Problem {
	slug := slugs[status]
	if slug == "" {
		slug = "error"
	}
	return Problem{Type: TypeBase + slug, Title: http.StatusText(status), Status: status, Detail: detail, Errors: fields}
}

// TypeCallerForbidden is the type of an internal listener's 403 to a caller
// the operation's x-allowed-callers does not list: a refusal of the calling
// workload itself, which every call it makes will meet. Every other 403 of
// an internal operation (a subject token for another user, operation or
// caller; a user who may not see what is asked) is about the user the call
// is made for, and has the type forbidden. The caller's client tells them
// apart by this type (package upstream; openapi-internal.yaml, Forbidden).
const TypeCallerForbidden = TypeBase + "caller-forbidden"

// As is p with the type typ instead of its status's (one of the Type
// constants above).
func (p Problem) As(typ string) Problem {
	p.Type = typ
	return p
}

// Write sends p, tagged with the request id so a response can be matched with a log line.
func Write(w http.ResponseWriter, r *http.Request, p Problem) {
	if p.Instance == "" && r != nil {
		p.Instance = reqinfo.RequestID(r.Context())
	}
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// statuses is the one mapping from a use-case failure to an HTTP status.
var statuses = map[apperr.Code]int{
	apperr.Invalid:      http.StatusBadRequest,
	apperr.Unauthorized: http.StatusUnauthorized,
	apperr.Forbidden:    http.StatusForbidden,
	apperr.NotFound:     http.StatusNotFound,
	apperr.Conflict:     http.StatusConflict,
	apperr.Unavailable:  http.StatusServiceUnavailable,
	apperr.RateLimited:  http.StatusTooManyRequests,
}

// Status maps a use-case failure to its HTTP status; anything unexpected is 500.
func Status(err error) int {
	if status, ok := statuses[apperr.CodeOf(err)]; ok {
		return status
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusInternalServerError
}

// FromError turns err into a problem. Only an *apperr.Error's message is shown;
// an unexpected error is logged (with the request id) and answered with a
// generic 500 so no SQL text or stack ever reaches the caller.
func FromError(r *http.Request, log *slog.Logger, err error) Problem {
	status := Status(err)
	var ae *apperr.Error
	switch {
	case errors.As(err, &ae):
		fields := make([]FieldError, 0, len(ae.Fields))
		for _, f := range ae.Fields {
			fields = append(fields, FieldError{Field: f.Name, Message: f.Rule})
		}
		return New(status, ae.Message, fields...)
	case status == http.StatusRequestEntityTooLarge:
		return New(status, "The request body is too large.")
	}
	log.ErrorContext(r.Context(), "request failed", "request_id", reqinfo.RequestID(r.Context()),
		"method", r.Method, "path", r.URL.Path, "error", err.Error())
	return New(http.StatusInternalServerError, "The server could not complete the request.")
}

// WriteError is FromError followed by Write (with Retry-After when the failure says when).
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var ae *apperr.Error
	if errors.As(err, &ae) && ae.RetryAfter > 0 {
		SetRetryAfter(w, ae.RetryAfter)
	}
	Write(w, r, FromError(r, log, err))
}

// SetRetryAfter sets Retry-After to wait in whole seconds, at least 1.
func SetRetryAfter(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", fmt.Sprint(int(math.Max(1, math.Ceil(wait.Seconds())))))
}

// RequestErrorHandler is for the generated servers' request-binding failures
// (a body or parameter the validator let through but Go cannot decode).
func RequestErrorHandler(log *slog.Logger) func(http.ResponseWriter, *http.Request, error) {
	return func(w http.ResponseWriter, r *http.Request, err error) {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			Write(w, r, New(http.StatusRequestEntityTooLarge, "The request body is too large."))
			return
		}
		log.DebugContext(r.Context(), "request could not be decoded", "path", r.URL.Path, "error", err.Error())
		Write(w, r, New(http.StatusBadRequest, "The request does not match the API contract."))
	}
}

// ResponseErrorHandler is for errors a strict handler returns: the use case's
// failure, mapped by FromError.
func ResponseErrorHandler(log *slog.Logger) func(http.ResponseWriter, *http.Request, error) {
	return func(w http.ResponseWriter, r *http.Request, err error) {
		WriteError(w, r, log, err)
	}
}
