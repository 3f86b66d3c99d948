package logging

import (
	"context"
	"log/slog"
	"time"
)

// Access is the one INFO line every request gets once it is served (see
// middleware.AccessLog): message "request", or, for a request whose credential
// named a caller (an accepted internal call), the audit line: message
// "internal call" and the same fields plus event "audit", the caller, its
// SPIFFE ID ("" for a static token), the credential kind and the call's
// subject. Its fields are fixed here, in one place, for the direct writer:
// none of them is a secret.
type Access struct {
	At                             time.Time // the line's time; zero: now
	Method, Path, Route, Operation string
	Status                         int
	Took                           time.Duration // written as duration_us
	RequestID, ClientIP            string
	TraceID                        string // written when not ""
	// The audit fields, written when Caller is not "".
	Caller, CallerID, Credential, Subject string
	// SubjectTokenID is the jti of the call's subject token, written when not "".
	SubjectTokenID string
}

func (a *Access) msg() string {
	if a.Caller != "" {
		return "internal call"
	}
	return "request"
}

func (a *Access) at() time.Time {
	if a.At.IsZero() {
		return now()
	}
	return a.At
}

// attrs are the line's attributes for slog (a text logger, or one with a
// group or an attribute the direct writer does not render), appended to buf.
func (a *Access) attrs(buf []slog.Attr) []slog.Attr {
	buf = append(buf, slog.String("method", a.Method), slog.String("path", a.Path),
		slog.String("route", a.Route), slog.String("operation", a.Operation), slog.Int("status", a.Status),
		slog.Int64("duration_us", a.Took.Microseconds()), slog.String("request_id", a.RequestID),
		slog.String("client_ip", a.ClientIP))
	if a.TraceID != "" {
		buf = append(buf, slog.String("trace_id", a.TraceID))
	}
	if a.Caller != "" {
		buf = append(buf, slog.String("event", "audit"), slog.String("caller", a.Caller),
			slog.String("caller_id", a.CallerID), slog.String("credential", a.Credential),
			slog.String("user_id", a.Subject))
		if a.SubjectTokenID != "" {
			buf = append(buf, slog.String("jti", a.SubjectTokenID))
		}
	}
	return buf
}

// WriteAccess writes a's line at INFO: like Logger.LogAttrs, but without
// capturing the caller's program counter, which no handler here uses and
// which costs a stack walk per line, and without the redaction hook (the
// fields are fixed above). In JSON format it is written directly (see
// lineWriter).
func WriteAccess(ctx context.Context, log *slog.Logger, a *Access) {
	const level = slog.LevelInfo
	h := log.Handler()
	if !h.Enabled(ctx, level) {
		return
	}
	ours, _ := h.(*handler)
	if ours != nil && ours.line != nil {
		_ = ours.line.write(a) // an INFO line waits in the output's buffer: nothing to flush
		return
	}
	var buf [14]slog.Attr
	r := slog.NewRecord(a.at(), level, a.msg(), 0)
	r.AddAttrs(a.attrs(buf[:0])...)
	if ours != nil {
		_ = ours.plain.Handle(ctx, r)
		return
	}
	_ = h.Handle(ctx, r)
}
