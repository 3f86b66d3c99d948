package logging

import (
	"context"
	"io"
	"testing"
	"time"
)

// BenchmarkAuditLine: the audit line of an accepted internal call, written
// directly and (the baseline) through slog's JSONHandler.
func BenchmarkAuditLine(b *testing.B) {
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
				WriteAccess(context.Background(), log, &Access{Method: "GET", Path: "/api/internal/properties/users/123",
					Route: "/api/internal/properties/users/{user_id}", Operation: "listUserProperties", Status: 200,
					Took: 1234 * time.Microsecond, RequestID: "0123456789abcdef", ClientIP: "127.0.0.1",
					Caller: "user-service", Credential: "token", Subject: "123"})
			}
		})
	}
}
