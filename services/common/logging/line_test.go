package logging

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"
)

// The direct writer must write, byte for byte, what slog's JSONHandler
// writes for the same line: the services' logs stay one format whichever
// path wrote a line.
func FuzzAccessWritesWhatSlogWrites(f *testing.F) {
	for _, s := range []string{"", "plain", `quote " and \ backslash`, "new\nline\r\ttab", "\x00\x01\x1f\x7f",
		"<script>&amp;</script>", "caf\u00e9 \u2028 \u2029 \U0001F600", "bad \xff\xfe utf8 \xc3", "\xe2\x80"} {
		f.Add(s, s, s, int64(-7), time.Date(2026, 11, 29, 16, 4, 5, 123456789, time.UTC).UnixNano())
	}
	f.Add("/api/internal/properties/users/42", "user-service", "42", int64(1<<62), int64(0))
	f.Add("/api/internal/properties/users/42", "", "", int64(5400), int64(-1))
	// One second in two zones, one after the other: the stamp is the zone's.
	// Its fraction has trailing zeros to trim.
	second := time.Date(2026, 11, 29, 16, 4, 5, 120000000, time.UTC).UnixNano()
	f.Add("/healthz", "user-service", "42", int64(3600), second)
	f.Add("/healthz", "", "42", int64(-7200), second)
	f.Fuzz(func(t *testing.T, path, caller, value string, n int64, at int64) {
		// The line's time, in a zone of n's choosing, then the same second
		// without its fraction (the second line reuses the first's stamp).
		zone := time.FixedZone("X", int(n%(14*3600)))
		stamped := time.Unix(0, at).In(zone)
		defer func(old func() time.Time) { now = old }(now)
		// Every field from the fuzzer: an audit line when caller is not "",
		// a trace id when value is not "".
		a := &Access{Method: value, Path: path, Route: path + value, Operation: value, Status: int(n % 1000),
			Took: time.Duration(n), RequestID: value, ClientIP: caller + value, TraceID: value,
			Caller: caller, CallerID: value + caller, Credential: value, Subject: path, SubjectTokenID: value}
		for i, fixed := range []time.Time{stamped, stamped.Add(-time.Duration(stamped.Nanosecond()))} {
			// The first line is stamped now, the second with its own time.
			now, a.At = func() time.Time { return fixed }, time.Time{}
			if i == 1 {
				now, a.At = time.Now, fixed
			}
			var ours, theirs bytes.Buffer
			log, err := New(func(string) string { return "" }, &ours, "svc "+value)
			if err != nil {
				t.Fatal(err)
			}
			if i == 1 {
				log = log.With("n", n, "password", value)
			}
			log.Handler().(*handler).plain = refuse{t}
			WriteAccess(context.Background(), log, a)

			h := slog.NewJSONHandler(&theirs, nil).WithAttrs([]slog.Attr{slog.String("service", "svc "+value)})
			if i == 1 {
				h = h.WithAttrs([]slog.Attr{slog.Int64("n", n), slog.String("password", "[redacted]")})
			}
			r := slog.NewRecord(fixed, slog.LevelInfo, a.msg(), 0)
			r.AddAttrs(a.attrs(nil)...)
			if err := h.Handle(context.Background(), r); err != nil {
				t.Fatal(err)
			}
			if ours.String() != theirs.String() {
				t.Fatalf("the direct writer and slog differ:\nours   %s\ntheirs %s", ours.String(), theirs.String())
			}
		}
	})
}

// refuse fails the test that a line reached: the fuzz target makes sure it
// compares the direct writer, not slog with itself.
type refuse struct{ t *testing.T }

func (r refuse) Enabled(context.Context, slog.Level) bool { return true }
func (r refuse) Handle(context.Context, slog.Record) error {
	r.t.Fatal("the line went through slog")
	return nil
}
func (r refuse) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r refuse) WithGroup(string) slog.Handler      { return r }

// A logger with a group, or with an attribute of a kind the direct writer
// does not render, and a text logger write access lines through slog; each
// line is written once, with its fields.
func TestAccessFallsBackToSlog(t *testing.T) {
	var buf bytes.Buffer
	log, _ := New(func(string) string { return "" }, &buf, "svc")
	text, _ := New(func(k string) string { return map[string]string{"LOG_FORMAT": "text"}[k] }, &buf, "svc")
	a := &Access{Method: "GET", Path: "/p", Status: 200, Caller: "user-service", Subject: "7"}
	WriteAccess(context.Background(), log.WithGroup("g"), a)
	WriteAccess(context.Background(), log.With("at", time.Unix(0, 0).UTC()), a)
	WriteAccess(context.Background(), text, a)
	want := []string{`"g":{"method":"GET","path":"/p",`, `"at":"1970-01-01T00:00:00Z","method":"GET",`, `msg="internal call"`}
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d: %s", len(lines), len(want), buf.String())
	}
	for i, w := range want {
		if !bytes.Contains(lines[i], []byte(w)) || !bytes.Contains(lines[i], []byte("user_id")) {
			t.Errorf("line %d: %s, want it to hold %s and the audit fields", i, lines[i], w)
		}
	}
}
