// Package apperr is the small vocabulary of failures that use cases return.
// The HTTP layer maps each Code to one status in one place (package problem),
// so business rules never speak HTTP.
package apperr

import (
	"errors"
	"fmt"
	"time"
)

// Code says what kind of failure an Error is.
type Code string

// The failure kinds a use case can report.
const (
	Invalid      Code = "invalid"      // the input breaks a rule
	Unauthorized Code = "unauthorized" // who is calling is unknown or wrong
	Forbidden    Code = "forbidden"    // the caller is known but may not do this
	NotFound     Code = "not_found"    // no such thing, or the caller may not see it
	Conflict     Code = "conflict"     // the state does not allow it (duplicate, last owner)
	Unavailable  Code = "unavailable"  // a dependency (the database) does not answer
	RateLimited  Code = "rate_limited" // too many failures: try again after RetryAfter
)

// Error is a failure a caller is allowed to see: Message is safe to show.
type Error struct {
	Code    Code
	Message string
	// RetryAfter, when set, tells the caller when to try again.
	RetryAfter time.Duration
	// Field, when set, is the request field an Invalid is about, and Rule
	// the rule it broke, in words that never quote the value (the problem
	// lists them in its errors).
	Field, Rule string
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// New returns an *Error.
func New(code Code, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// InvalidField returns an Invalid *Error about one request field.
func InvalidField(field, rule, message string) error {
	return &Error{Code: Invalid, Message: message, Field: field, Rule: rule}
}

// CodeOf returns the code of the first *Error in err's chain, or "" for an
// unexpected (internal) error.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
