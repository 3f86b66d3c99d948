// Package logging builds the structured slog logger both services write to stderr.
package logging

import (
	"io"
	"log/slog"
	"strings"

	"jeeves4service/services/common/config"
)

// secretKeys are attribute names whose values are never written, whatever a
// caller passes: defence in depth behind the rule that secrets are not logged.
var secretKeys = map[string]bool{
	"token": true, "password": true, "authorization": true, "x-internal-token": true,
	"secret": true, "jwt": true, "new_password": true, "current_password": true,
}

// New reads LOG_FORMAT (json|text) and LOG_LEVEL (debug|info|warn|error).
func New(getenv config.Getenv, w io.Writer, service string) (*slog.Logger, error) {
	var level slog.Level
	switch lv := strings.ToLower(config.String(getenv, "LOG_LEVEL", "info")); lv {
	case "debug":
		level = slog.LevelDebug
	case "info":
		level = slog.LevelInfo
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		return nil, &config.Error{Var: "LOG_LEVEL", Problem: "must be debug, info, warn or error, got " + lv}
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: redact}
	var h slog.Handler
	switch f := strings.ToLower(config.String(getenv, "LOG_FORMAT", "json")); f {
	case "json":
		h = slog.NewJSONHandler(w, opts)
	case "text":
		h = slog.NewTextHandler(w, opts)
	default:
		return nil, &config.Error{Var: "LOG_FORMAT", Problem: "must be json or text, got " + f}
	}
	return slog.New(h).With("service", service), nil
}

func redact(_ []string, a slog.Attr) slog.Attr {
	if secretKeys[strings.ToLower(a.Key)] {
		return slog.String(a.Key, "[redacted]")
	}
	return a
}
