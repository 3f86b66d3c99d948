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
func FuzzLineWritesWhatSlogWrites(f *testing.F) {
	for _, s := range []string{"", "plain", `quote " and \ backslash`, "new\nline\r\ttab", "\x00\x01\x1f\x7f",
		"<script>&amp;</script>", "caf\u00e9 \u2028 \u2029 \U0001F600", "bad \xff\xfe utf8 \xc3", "\xe2\x80"} {
		f.Add(s, s, s, int64(-7), time.Date(2026, 11, 29, 16, 4, 5, 123456789, time.UTC).UnixNano())
	}
	f.Add("internal call", "user_id", "42", int64(1<<62), int64(0))
	f.Add("internal call", "user_id", "42", int64(5400), int64(-1))
	// One second in two zones, one after the other: the stamp is the zone's.
	// Its fraction has trailing zeros to trim.
	second := time.Date(2026, 11, 29, 16, 4, 5, 120000000, time.UTC).UnixNano()
	f.Add("internal call", "user_id", "42", int64(3600), second)
	f.Add("internal call", "user_id", "42", int64(-7200), second)
	f.Fuzz(func(t *testing.T, msg, key, value string, n int64, at int64) {
		// The line's time, in a zone of n's choosing, then the same second
		// without its fraction (the second line reuses the first's stamp).
		zone := time.FixedZone("X", int(n%(14*3600)))
		stamped := time.Unix(0, at).In(zone)
		defer func(old func() time.Time) { now = old }(now)
		for i, level := range []slog.Level{slog.LevelInfo, slog.LevelWarn} {
			fixed := stamped
			if i == 1 {
				fixed = stamped.Add(-time.Duration(stamped.Nanosecond()))
			}
			now = func() time.Time { return fixed }
			var ours, theirs bytes.Buffer
			log, err := New(func(string) string { return "" }, &ours, "svc "+value)
			if err != nil {
				t.Fatal(err)
			}
			log = log.With(key, n, "password", value)
			attrs := []slog.Attr{slog.String("method", "GET"), slog.String(key, value), slog.Int64("n", n),
				slog.Int("status", 200), slog.String("path", msg+value)}
			if key != "" { // a line with an empty key goes through slog (TestLineFallsBackToSlog)
				log.Handler().(*handler).plain = refuse{t}
			}
			Line(context.Background(), log, level, msg, attrs...)

			h := slog.NewJSONHandler(&theirs, nil).WithAttrs([]slog.Attr{slog.String("service", "svc "+value),
				slog.Int64(key, n), slog.String("password", "[redacted]")})
			r := slog.NewRecord(fixed, level, msg, 0)
			r.AddAttrs(attrs...)
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

// A line with an attribute of another kind, and a logger with a group, go
// through slog; either way the line is written once.
func TestLineFallsBackToSlog(t *testing.T) {
	var buf bytes.Buffer
	log, _ := New(func(string) string { return "" }, &buf, "svc")
	Line(context.Background(), log, slog.LevelInfo, "m", slog.Bool("ok", true), slog.Duration("took", time.Second))
	Line(context.Background(), log.WithGroup("g"), slog.LevelInfo, "m", slog.String("k", "v"))
	Line(context.Background(), log.With("at", time.Unix(0, 0).UTC()), slog.LevelInfo, "m", slog.String("k", "v"))
	Line(context.Background(), log, slog.LevelInfo, "m", slog.String("", "v"))
	want := []string{`"ok":true,"took":1000000000}`, `"g":{"k":"v"}}`, `"at":"1970-01-01T00:00:00Z","k":"v"}`, `"":"v"}`}
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d: %s", len(lines), len(want), buf.String())
	}
	for i, w := range want {
		if !bytes.HasSuffix(lines[i], []byte(w)) {
			t.Errorf("line %d: %s, want it to end %s", i, lines[i], w)
		}
	}
}
