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
	// Fields, for Invalid, names the offending input fields and their rules.
	Fields []Field
}

// Field is one offending input field: Rule says what it broke, in words
// that never repeat the value.
type Field struct {
	Name, Rule string
}

// InvalidField is an Invalid failure about one field.
func InvalidField(message, field, rule string) error {
	return &Error{Code: Invalid, Message: message, Fields: []Field{{Name: field, Rule: rule}}}
}

func (e *Error) Error() string {
	msg := string(e.Code) + ": " + e.Message
	for _, f := range e.Fields {
		msg += " (" + f.Name + " " + f.Rule + ")"
	}
	return msg
}

// New returns an *Error.
func New(code Code, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
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
