package logging

import (
	"context"
	"io"
	"log/slog"
	"testing"
)

// BenchmarkAuditLine: the audit line of an accepted internal call, written
// directly and (the baseline) through slog's JSONHandler.
func BenchmarkAuditLine(b *testing.B) {
	attrs := []slog.Attr{slog.String("method", "GET"), slog.String("path", "/api/internal/properties/users/123"),
		slog.String("route", "/api/internal/properties/users/{user_id}"), slog.String("operation", "listUserProperties"),
		slog.Int("status", 200), slog.Int64("duration_us", 1234), slog.String("request_id", "0123456789abcdef"),
		slog.String("client_ip", "127.0.0.1"), slog.String("event", "audit"), slog.String("caller", "user-service"),
		slog.String("caller_id", ""), slog.String("credential", "token"), slog.String("user_id", "123")}
	log, err := New(func(string) string { return "" }, io.Discard, "property-service")
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		line *lineWriter
	}{{"direct", log.Handler().(*handler).line}, {"slog", nil}} {
		log.Handler().(*handler).line = c.line
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Line(context.Background(), log, slog.LevelInfo, "internal call", attrs...)
			}
		})
	}
}
