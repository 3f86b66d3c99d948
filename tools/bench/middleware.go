package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/internalauth"
	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
	"github.com/jeeves4service/jeeves4service/services/common/logging"
	"github.com/jeeves4service/jeeves4service/services/common/router"
	"github.com/jeeves4service/jeeves4service/services/common/workload"

	"github.com/go-chi/chi/v5"
)

// middlewareOnly measures the per-request cost of the internal validator and
// token check (go test's benchmark machinery, ns/op and allocs/op) against a
// no-op handler.
func middlewareOnly(report func(string)) ([]Result, error) {
	// The services' logger, as lifecycle builds it (buffered JSON), into io.Discard.
	out, err := logging.NewOutput(func(string) string { return "" }, io.Discard)
	if err != nil {
		return nil, err
	}
	defer out.Close()
	log, err := logging.New(func(string) string { return "" }, out, "property-service")
	if err != nil {
		return nil, err
	}
	secret := strings.Repeat("k", 48)
	tok, err := internalauth.NewToken("user-service", secret)
	if err != nil {
		return nil, err
	}
	w, err := workload.Open(context.Background(), workload.Config{Name: "property-service",
		Mode: workload.Tokens, Accepted: []internalauth.Token{tok}}, log)
	if err != nil {
		return nil, err
	}
	// The subject token the user service would mint for the call, verified
	// with its key as the property service does (one Ed25519 check per call).
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	signer := jwtauth.NewSigner(key, nil, jwtauth.Settings{Issuer: "jeeves4service", Audience: "jeeves4service"}, time.Hour)
	subject, _, err := signer.SignSubject(jwtauth.SubjectRequest{Subject: "1", Audience: "property-service",
		Operation: "getUserProperties", AuthorizedParty: "user-service"}, jwtauth.MaxSubjectTTL, time.Now())
	if err != nil {
		return nil, err
	}
	contract, err := router.InternalContract("internal")
	if err != nil {
		return nil, err
	}
	guard, err := w.Guard(contract.Spec, workload.GuardOptions{Log: log,
		Subjects: jwtauth.NewSubjectVerifier(signer, "jeeves4service")})
	if err != nil {
		return nil, err
	}
	noop := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	// The guarded stack as the internal listener runs it around a handler:
	// the listener's router (request id, client IP, the access line, here the
	// audit line), the guard and the validator; the baseline is the handler alone.
	guarded, err := workload.InternalAPI(router.Base{Log: log}, contract, guard, func(r chi.Router) {
		r.Get("/api/internal/properties/users/{user_id}", noop)
	})
	if err != nil {
		return nil, err
	}
	// Each request is read as net/http's server reads one: parsed from the
	// connection's reader, which lives as long as the connection. (With
	// httptest.NewRequest every call allocated a fresh 4 KB reader: the
	// garbage of the harness, not of the guard, set how often the collector
	// ran, and the added cost read 1 to 1.5 µs higher than the guard's own.)
	raw := "GET /api/internal/properties/users/1 HTTP/1.1\r\nHost: property.internal\r\n" +
		internalauth.Header + ": " + secret + "\r\n" + internalauth.SubjectHeader + ": " + subject + "\r\n\r\n"
	bench := func(h http.Handler) testing.BenchmarkResult {
		return testing.Benchmark(func(b *testing.B) {
			b.ReportAllocs()
			var conn strings.Reader
			br := bufio.NewReader(&conn)
			for b.Loop() {
				conn.Reset(raw)
				br.Reset(&conn)
				req, err := http.ReadRequest(br)
				if err != nil {
					b.Fatal(err)
				}
				req.RemoteAddr = "192.0.2.10:41000"
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusNoContent {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
	// Alternating rounds, as the HTTP scenarios alternate: one pair of
	// second-long runs drifts with the machine by more than the guard costs.
	// The added cost is the median of the rounds' differences.
	var base, full testing.BenchmarkResult
	var added, baseNs, fullNs []float64
	for round := 0; round < middlewareRounds; round++ {
		if round%2 == 0 {
			base, full = bench(noop), bench(guarded)
		} else {
			full, base = bench(guarded), bench(noop)
		}
		baseNs, fullNs = append(baseNs, float64(base.NsPerOp())), append(fullNs, float64(full.NsPerOp()))
		added = append(added, float64(full.NsPerOp()-base.NsPerOp()))
		report(fmt.Sprintf("middleware_only round %d: no-op %s, guarded %s", round+1, base.String()+base.MemString(), full.String()+full.MemString()))
	}
	r := Result{Variant: "validator+token+audit", RPS: 1e9 / median(fullNs),
		Extra: map[string]float64{"ns_per_op": median(fullNs), "allocs_per_op": float64(full.AllocsPerOp()),
			"baseline_ns_per_op": median(baseNs), "baseline_allocs_per_op": float64(base.AllocsPerOp()),
			"added_ns_per_op": median(added), "added_allocs_per_op": float64(full.AllocsPerOp() - base.AllocsPerOp())}}
	return []Result{versus(r, Result{RPS: 1e9 / median(baseNs)}, "middleware_only", "-", "no-op handler",
		"<=3000 added ns, <=20 added allocs")}, nil
}

// middlewareChildEnv, set, makes the tool the child that runs
// middleware_only and writes its results to stdout as JSON.
const middlewareChildEnv = "BENCH_MIDDLEWARE_ONLY_CHILD"

// middlewareOnlyInChild runs middleware_only in a process of its own: this
// one holds what the other scenarios left (limiter_keys' million keys, whose
// memory the runtime is still handing back, the attacks' metrics), and its
// collector would tax the guard's allocations by more than they cost alone.
func middlewareOnlyInChild(ctx context.Context) ([]Result, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("middleware_only: find this program: %w", err)
	}
	cmd := exec.CommandContext(ctx, self)
	cmd.Env = append(os.Environ(), middlewareChildEnv+"=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("middleware_only child: %w", err)
	}
	var rs struct {
		Log     []string
		Results []Result
	}
	if err := json.Unmarshal(out, &rs); err != nil {
		return nil, fmt.Errorf("middleware_only child's results: %w", err)
	}
	for _, line := range rs.Log {
		fmt.Println(line)
	}
	return rs.Results, nil
}

// middlewareChild is the child's main.
func middlewareChild() {
	var log []string
	rs, err := middlewareOnly(func(line string) { log = append(log, line) })
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench middleware_only:", err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(map[string]any{"Log": log, "Results": rs}); err != nil {
		fmt.Fprintln(os.Stderr, "bench middleware_only:", err)
		os.Exit(1)
	}
}

// middlewareRounds: pairs of runs of about a second each.
const middlewareRounds = 5

// median is the middle value of xs (the mean of the two middle ones for an
// even count); xs is left as it is.
func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
