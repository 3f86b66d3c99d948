// Package logging builds the structured slog logger both services write to
// stderr, with secrets redacted by attribute name, and the buffered output
// it writes through.
package logging

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/jeeves4service/jeeves4service/services/common/config"
)

// secretKeys are attribute names whose values are never written, whatever a
// caller passes: defence in depth behind the rule that secrets are not logged.
var secretKeys = map[string]bool{
	"token": true, "password": true, "authorization": true, "x-internal-token": true,
	"secret": true, "jwt": true, "new_password": true, "current_password": true,
}

// New reads LOG_FORMAT (json|text) and LOG_LEVEL (debug|info|warn|error).
// When w is an *Output, WARN and ERROR lines are flushed at once.
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
	plainOpts := &slog.HandlerOptions{Level: level}
	h := &handler{}
	out := &lockedWriter{w: w}
	switch f := strings.ToLower(config.String(getenv, "LOG_FORMAT", "json")); f {
	case "json":
		h.Handler, h.plain = slog.NewJSONHandler(out, opts), slog.NewJSONHandler(out, plainOpts)
		if directLines != "off" {
			h.line = &lineWriter{w: out}
		}
	case "text":
		h.Handler, h.plain = slog.NewTextHandler(out, opts), slog.NewTextHandler(out, plainOpts)
	default:
		return nil, &config.Error{Var: "LOG_FORMAT", Problem: "must be json or text, got " + f}
	}
	if out, ok := w.(*Output); ok && out.buf != nil {
		h.out = out
	}
	return slog.New(h).With("service", service), nil
}

// directLines is "off" only in a binary linked with
// -ldflags=-X=github.com/jeeves4service/jeeves4service/services/common/logging.directLines=off: make
// bench-instructions builds one to measure what the direct access-line writer
// (lineWriter) saves against slog's JSON handler.
var directLines = "on"

func redact(_ []string, a slog.Attr) slog.Attr {
	if secretKeys[a.Key] || (hasUpper(a.Key) && secretKeys[strings.ToLower(a.Key)]) {
		return slog.String(a.Key, "[redacted]")
	}
	return a
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

// Output is where a service's log lines go. With a flush interval, lines are
// written in batches (zapcore.BufferedWriteSyncer: at most 256 KiB or one
// interval behind), so an audit line per call does not cost a write(2) per
// call; WARN and ERROR lines, and everything on Close, are flushed at once. A
// process killed with SIGKILL may lose up to one interval of INFO lines:
// LOG_FLUSH_INTERVAL=0 writes every line as it comes, at that cost.
type Output struct {
	w   io.Writer
	buf *zapcore.BufferedWriteSyncer // nil: unbuffered
}

// DefaultFlushInterval is LOG_FLUSH_INTERVAL's default.
const DefaultFlushInterval = 200 * time.Millisecond

// NewOutput reads LOG_FLUSH_INTERVAL (a duration, 0 for no buffering) and
// returns the output for w.
func NewOutput(getenv config.Getenv, w io.Writer) (*Output, error) {
	interval := DefaultFlushInterval
	if v := config.String(getenv, "LOG_FLUSH_INTERVAL", ""); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return nil, &config.Error{Var: "LOG_FLUSH_INTERVAL", Problem: "must be a duration such as 200ms, or 0, got " + v}
		}
		interval = d
	}
	if interval == 0 {
		return &Output{w: w}, nil
	}
	return &Output{w: w, buf: &zapcore.BufferedWriteSyncer{WS: zapcore.AddSync(w), Size: 256 << 10, FlushInterval: interval}}, nil
}

// Write implements io.Writer.
func (o *Output) Write(p []byte) (int, error) {
	if o.buf == nil {
		return o.w.Write(p)
	}
	return o.buf.Write(p)
}

// Flush writes what is buffered.
func (o *Output) Flush() error {
	if o.buf == nil {
		return nil
	}
	return o.buf.Sync()
}

// Close flushes and stops the flushing goroutine.
func (o *Output) Close() error {
	if o.buf == nil {
		return nil
	}
	return o.buf.Stop()
}

// handler is the services' slog.Handler: every line goes through the
// redaction hook, except access lines (WriteAccess: their fields are named
// in code and never secrets; the hook costs about 40 % of a line, and there
// is one per request). WARN and ERROR lines are flushed at once, so a
// refused call or a failure does not wait in the output's buffer.
type handler struct {
	slog.Handler              // with the redaction hook
	plain        slog.Handler // the same output and attributes, without it
	line         *lineWriter  // access lines' direct writer; nil: they go through plain
	out          *Output      // nil: nothing to flush
}

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	return h.flushedAt(r.Level, h.Handler.Handle(ctx, r))
}

func (h *handler) flushedAt(level slog.Level, err error) error {
	if h.out != nil && level >= slog.LevelWarn {
		_ = h.out.Flush()
	}
	return err
}

// WithAttrs redacts the logger's own attributes for plain and line too: they
// are not named in code like an access line's fields.
func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	redacted := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		redacted[i] = redact(nil, a)
	}
	return &handler{Handler: h.Handler.WithAttrs(attrs), plain: h.plain.WithAttrs(redacted), line: h.line.with(redacted), out: h.out}
}

// WithGroup leaves access lines to slog (the direct writer knows no groups).
func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{Handler: h.Handler.WithGroup(name), plain: h.plain.WithGroup(name), out: h.out}
}
