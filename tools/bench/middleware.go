package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"jeeves4service"
	"jeeves4service/services/common/httpx"
	"jeeves4service/services/common/tokenguard"
	"jeeves4service/services/common/validator"
)

// middlewareOnly measures the per-request cost of the internal validator and
// token check (go test's benchmark machinery, ns/op and allocs/op) against a
// no-op handler.
func middlewareOnly() ([]Result, error) {
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	secret := strings.Repeat("k", 48)
	tok, err := tokenguard.NewToken("bench", secret)
	if err != nil {
		return nil, err
	}
	guard, err := tokenguard.New([]tokenguard.Token{tok}, log)
	if err != nil {
		return nil, err
	}
	spec, err := validator.LoadSpec(context.Background(), jeeves4service.InternalSpec)
	if err != nil {
		return nil, err
	}
	mw, err := validator.New(spec, validator.Options{Authenticate: guard.Authenticate, Log: log, UnauthorizedDetail: "x"})
	if err != nil {
		return nil, err
	}
	noop := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	// The guarded stack as the internal listener runs it around a handler:
	// request id, the access line (here the audit line), the guard and the
	// validator; the baseline is the handler alone.
	guarded := httpx.RequestID(httpx.AccessLog(log, nil)(guard.Middleware(func(*http.Request) string { return "1" })(mw(noop))))
	bench := func(h http.Handler) testing.BenchmarkResult {
		return testing.Benchmark(func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest("GET", "/api/internal/properties/users/1", nil)
				req.Header.Set(tokenguard.Header, secret)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusNoContent {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
	base, full := bench(noop), bench(guarded)
	fmt.Printf("middleware_only: no-op %s, guarded %s\n", base.String()+base.MemString(), full.String()+full.MemString())
	r := Result{Scenario: "middleware_only", Engine: "-", Variant: "validator+token+audit",
		Extra: map[string]float64{"ns_per_op": float64(full.NsPerOp()), "allocs_per_op": float64(full.AllocsPerOp()),
			"baseline_ns_per_op": float64(base.NsPerOp()), "baseline_allocs_per_op": float64(base.AllocsPerOp()),
			"added_ns_per_op": float64(full.NsPerOp() - base.NsPerOp())},
		BaselineIs: "no-op handler"}
	if full.NsPerOp() > 0 {
		r.RPS = 1e9 / float64(full.NsPerOp())
		b := Result{Scenario: r.Scenario, Engine: "-", Variant: "baseline", RPS: 1e9 / float64(base.NsPerOp())}
		r.Baseline = &b
		r.RatioRPS = r.RPS / b.RPS
	}
	return []Result{r}, nil
}
