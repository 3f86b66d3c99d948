package logging

import (
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// lineWriter writes access lines (Access) in JSON format directly: the
// same bytes slog's JSONHandler writes for them (FuzzAccessWritesWhatSlogWrites
// compares the two), without its generic machinery (a record, a handle
// state, an attribute walk, a buffer per line) and without building the
// line's attributes at all: its keys are fixed, rendered into the code. The
// access and audit line is written on every request, and through slog it
// was the largest single cost of the guarded internal call.
type lineWriter struct {
	w      *lockedWriter
	prefix []byte // the logger's With attributes, rendered and redacted: `,"service":"user-service"`
}

// lockedWriter is shared by slog's handlers and the lineWriter, so a line
// written by either is never interleaved with one written by the other.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// now is the clock lines are stamped with (the comparison test fixes it).
var now = time.Now

var linePool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// with returns the writer for a logger with (already redacted) attrs added,
// or nil when one of them is of a kind this writer does not render (slog
// writes such a logger's lines).
func (lw *lineWriter) with(attrs []slog.Attr) *lineWriter {
	if lw == nil {
		return nil
	}
	prefix := append([]byte(nil), lw.prefix...)
	for _, a := range attrs {
		var ok bool
		if prefix, ok = appendAttr(prefix, a); !ok {
			return nil
		}
	}
	return &lineWriter{w: lw.w, prefix: prefix}
}

// write writes one access line (always at INFO: see WriteAccess).
func (lw *lineWriter) write(a *Access) error {
	bp := linePool.Get().(*[]byte)
	b := (*bp)[:0]
	defer func() {
		if cap(b) <= 64<<10 { // an unusually long line is not kept around
			*bp = b
			linePool.Put(bp)
		}
	}()
	b = append(b, `{"time":"`...)
	b = a.at().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"INFO","msg":`...)
	b = appendString(b, a.msg())
	b = append(b, lw.prefix...)
	// The same fields in the same order as Access.attrs.
	b = appendString(append(b, `,"method":`...), a.Method)
	b = appendString(append(b, `,"path":`...), a.Path)
	b = appendString(append(b, `,"route":`...), a.Route)
	b = appendString(append(b, `,"operation":`...), a.Operation)
	b = strconv.AppendInt(append(b, `,"status":`...), int64(a.Status), 10)
	b = strconv.AppendInt(append(b, `,"duration_us":`...), a.Took.Microseconds(), 10)
	b = appendString(append(b, `,"request_id":`...), a.RequestID)
	b = appendString(append(b, `,"client_ip":`...), a.ClientIP)
	if a.TraceID != "" {
		b = appendString(append(b, `,"trace_id":`...), a.TraceID)
	}
	if a.Caller != "" {
		b = append(b, `,"event":"audit","caller":`...)
		b = appendString(b, a.Caller)
		b = appendString(append(b, `,"caller_id":`...), a.CallerID)
		b = appendString(append(b, `,"credential":`...), a.Credential)
		b = appendString(append(b, `,"user_id":`...), a.Subject)
		if a.SubjectTokenID != "" {
			b = appendString(append(b, `,"jti":`...), a.SubjectTokenID)
		}
	}
	b = append(b, "}\n"...)
	_, err := lw.w.Write(b)
	return err
}

// appendAttr appends `,"key":value` for a string or integer attribute (a
// logger's With attributes: the service's name), and reports false for any
// other (the one rule for what this writer renders).
func appendAttr(b []byte, a slog.Attr) ([]byte, bool) {
	if a.Key == "" { // slog's rules for these (dropped only when the value is empty too) stay slog's
		return b, false
	}
	b = append(b, ',')
	b = appendString(b, a.Key)
	b = append(b, ':')
	switch a.Value.Kind() {
	case slog.KindString:
		return appendString(b, a.Value.String()), true
	case slog.KindInt64:
		return strconv.AppendInt(b, a.Value.Int64(), 10), true
	}
	return b, false
}

// appendString appends s as a JSON string, escaped as slog escapes it:
// control characters, '"' and '\\' escaped, invalid UTF-8 as U+FFFD, and
// U+2028 and U+2029 escaped for JavaScript's sake.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if i+8 <= len(s) && plain8(s[i:i+8]) {
			i += 8
			continue
		}
		if c := s[i]; c < utf8.RuneSelf {
			if plainByte[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// plain8 reports whether none of the 8 bytes of s needs escaping (a control
// character, '"', '\\' or a byte of a multi-byte sequence), testing all 8 at
// once: most of an access line is plain ASCII.
func plain8(s string) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	x := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
	control := x - 0x20*ones // a byte below 0x20 borrows into its high bit
	quote, backslash := x^('"'*ones), x^('\\'*ones)
	found := (control | (quote - ones) | (backslash - ones)) &^ x // a zero byte of quote or backslash did too
	return (x|found)&highs == 0
}

// plainByte: the bytes written as they are (ASCII but control characters,
// '"' and '\\'); one lookup per byte in the common case.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()
