// Package config reads settings from environment variables. Every failure is a
// *config.Error naming the variable, so main can print one line and exit 2.
package config

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Getenv is os.Getenv, or a map lookup in tests.
type Getenv func(string) string

// Error is a bad or missing configuration value.
type Error struct {
	Var     string
	Problem string
}

func (e *Error) Error() string { return e.Var + ": " + e.Problem }

// ExitCode is the process status for a configuration error.
const ExitCode = 2

// MinTokenLength is the shortest internal-service token either service accepts
// (INTERNAL_SERVICE_TOKEN, INTERNAL_SERVICE_TOKENS).
const MinTokenLength = 32

// String returns the variable's value, or def when it is unset or empty.
func String(getenv Getenv, name, def string) string {
	if v := strings.TrimSpace(getenv(name)); v != "" {
		return v
	}
	return def
}

// Required returns the variable's value or an error when it is unset.
func Required(getenv Getenv, name string) (string, error) {
	v := getenv(name)
	if strings.TrimSpace(v) == "" {
		return "", &Error{Var: name, Problem: "is required and has no default"}
	}
	return v, nil
}

// Delay parses a wait such as SHUTDOWN_DELAY or REFUSAL_DELAY: a Go
// duration, 0 for none, never negative (a parser for Parse).
func Delay(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("must be a duration such as 5s, or 0, got %q", v)
	}
	return d, nil
}

// Switch parses "on" or "off" (a parser for Parse).
func Switch(v string) (bool, error) {
	switch v {
	case "on":
		return true, nil
	case "off":
		return false, nil
	}
	return false, fmt.Errorf("must be on or off, got %q", v)
}

// Duration parses a Go duration such as "2s"; it must be positive.
func Duration(getenv Getenv, name string, def time.Duration) (time.Duration, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, &Error{Var: name, Problem: fmt.Sprintf("must be a positive duration such as 2s or 1h, got %q", v)}
	}
	return d, nil
}

// Addr reads a host:port listen address.
func Addr(getenv Getenv, name, def string) (string, error) {
	v := String(getenv, name, def)
	if _, _, err := net.SplitHostPort(v); err != nil {
		return "", &Error{Var: name, Problem: fmt.Sprintf("must be host:port, got %q", v)}
	}
	return v, nil
}

// Prefixes reads a comma-separated list of CIDRs (a bare IP means one address).
func Prefixes(getenv Getenv, name string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(getenv(name), ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if !strings.Contains(part, "/") {
			addr, err := netip.ParseAddr(part)
			if err != nil {
				return nil, &Error{Var: name, Problem: fmt.Sprintf("%q is not an IP address or CIDR", part)}
			}
			out = append(out, netip.PrefixFrom(addr, addr.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, &Error{Var: name, Problem: fmt.Sprintf("%q is not a CIDR", part)}
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Int reads a positive integer.
func Int(getenv Getenv, name string, def int) (int, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, nil
	}
	var n int
	if _, err := fmt.Sscan(v, &n); err != nil || n <= 0 || fmt.Sprint(n) != v {
		return 0, &Error{Var: name, Problem: fmt.Sprintf("must be a positive integer, got %q", v)}
	}
	return n, nil
}

// Secret reads a required secret of at least minLen characters. Its errors
// name the variable and never contain the value.
func Secret(getenv Getenv, name string, minLen int) (string, error) {
	secret, err := Required(getenv, name)
	if err != nil {
		return "", err
	}
	if len(secret) < minLen {
		return "", &Error{Var: name, Problem: fmt.Sprintf("must be at least %d characters", minLen)}
	}
	return secret, nil
}

// Parsed reads name (def when unset) and turns it into a T with parse, the
// parser of the package that owns the format (database.ParseURL,
// ratelimit.ParseBudget, ...); a parse error becomes the variable's problem.
func Parsed[T any](getenv Getenv, name, def string, parse func(string) (T, error)) (T, error) {
	v, err := parse(String(getenv, name, def))
	if err != nil {
		var zero T
		return zero, &Error{Var: name, Problem: err.Error()}
	}
	return v, nil
}

// Reader reads many variables in a row and keeps the first error, so a
// service's LoadConfig is one line per variable and one error check at the
// end. After an error, later reads return zero values.
type Reader struct {
	getenv Getenv
	err    error
}

// NewReader reads from getenv.
func NewReader(getenv Getenv) *Reader { return &Reader{getenv: getenv} }

// Err is the first error met, or nil.
func (r *Reader) Err() error { return r.err }

// Raw is the variable's value as set, for parsing by hand.
func (r *Reader) Raw(name string) string { return r.getenv(name) }

// Fail records err unless an earlier error was recorded (for checks that
// span variables).
func (r *Reader) Fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// String is String.
func (r *Reader) String(name, def string) string { return String(r.getenv, name, def) }

// Addr is Addr.
func (r *Reader) Addr(name, def string) string {
	return read(r, func() (string, error) { return Addr(r.getenv, name, def) })
}

// Duration is Duration.
func (r *Reader) Duration(name string, def time.Duration) time.Duration {
	return read(r, func() (time.Duration, error) { return Duration(r.getenv, name, def) })
}

// Int is Int.
func (r *Reader) Int(name string, def int) int {
	return read(r, func() (int, error) { return Int(r.getenv, name, def) })
}

// Prefixes is Prefixes.
func (r *Reader) Prefixes(name string) []netip.Prefix {
	return read(r, func() ([]netip.Prefix, error) { return Prefixes(r.getenv, name) })
}

// Secret is Secret.
func (r *Reader) Secret(name string, minLen int) string {
	return read(r, func() (string, error) { return Secret(r.getenv, name, minLen) })
}

// Parse is Parsed on a Reader (a function: Go methods cannot be generic).
func Parse[T any](r *Reader, name, def string, parse func(string) (T, error)) T {
	return read(r, func() (T, error) { return Parsed(r.getenv, name, def, parse) })
}

func read[T any](r *Reader, f func() (T, error)) T {
	var zero T
	if r.err != nil {
		return zero
	}
	v, err := f()
	if err != nil {
		r.err = err
		return zero
	}
	return v
}
