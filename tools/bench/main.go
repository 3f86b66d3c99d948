// Command bench is `make bench`: it builds and starts the shipped binaries
// of both services (and the baselines in tools/bench/limit and
// tools/bench/baseline) as child processes on loopback, warms up, and
// measures each scenario next to its own baseline in the same run, so the
// ratios hold on a noisy machine. The load generator is this process only. It prints one table and writes
// bench/results.json. Load comes from vegeta's library (a maintained, accurate
// load generator with HDR-style latency metrics) rather than a hand-rolled loop.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"text/tabwriter"

	"time"
)

// Result is one scenario on one engine.
type Result struct {
	Scenario   string             `json:"scenario"`
	Engine     string             `json:"engine"`
	Variant    string             `json:"variant,omitempty"`
	RPS        float64            `json:"rps"`
	P50ms      float64            `json:"p50_ms"`
	P90ms      float64            `json:"p90_ms"`
	P99ms      float64            `json:"p99_ms"`
	Errors     uint64             `json:"errors"`
	Baseline   *Result            `json:"baseline,omitempty"`
	RatioRPS   float64            `json:"ratio_rps,omitempty"`
	RatioP99   float64            `json:"ratio_p99,omitempty"`
	Target     string             `json:"target,omitempty"`
	Extra      map[string]float64 `json:"extra,omitempty"`
	BaselineIs string             `json:"baseline_is,omitempty"`
	// RoundRPS is the rate in each slice of an interleaved measurement.
	RoundRPS []float64 `json:"round_rps,omitempty"`
	// CPUPerRequestUS is the serving process's CPU time per request (µs).
	CPUPerRequestUS float64 `json:"cpu_per_request_us,omitempty"`
}

type options struct {
	duration    time.Duration
	warmup      time.Duration
	concurrency int
	postgres    string
	rows        []int
	out         string
	only        map[string]bool
	cpuprofile  string
	// serviceProfile: where internal_get writes a CPU profile of the guarded
	// property service, taken from its admin listener while it is measured.
	serviceProfile string
}

// runs reports whether scenario was selected with -only (all by default).
func (o options) runs(scenario string) bool { return len(o.only) == 0 || o.only[scenario] }

func main() {
	if os.Getenv(middlewareChildEnv) != "" {
		middlewareChild()
		return
	}
	var o options
	var rows string
	flag.DurationVar(&o.duration, "duration", 4*time.Second, "measured duration of each attack")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "warm-up before each measured attack")
	flag.IntVar(&o.concurrency, "concurrency", 8, "concurrent workers per attack")
	flag.StringVar(
		&o.postgres,
		"postgres",
		os.Getenv("TEST_POSTGRES_URL"),
		"admin URL of a PostgreSQL server to benchmark too (default $TEST_POSTGRES_URL)",
	)
	flag.StringVar(&rows, "rows", "1000,100000", "rows_growth table sizes")
	flag.StringVar(&o.out, "out", "bench/results.json", "where to write the JSON results")
	var only string
	flag.StringVar(&only, "only", "", "comma-separated scenarios to run (default all)")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the load generator (the services run in their own processes: "+
		"profile them with their /debug/pprof on the admin listener)")
	flag.StringVar(&o.serviceProfile, "service-profile", "", "write a CPU profile of the guarded property service during internal_get "+
		"(the last engine's run)")
	flag.Parse()
	o.only = map[string]bool{}
	for _, sc := range strings.Split(only, ",") {
		if sc = strings.TrimSpace(sc); sc != "" {
			o.only[sc] = true
		}
	}
	for _, r := range strings.Split(rows, ",") {
		var n int
		if _, err := fmt.Sscan(r, &n); err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "bench: bad -rows entry %q\n", r)
			os.Exit(2)
		}
		o.rows = append(o.rows, n)
	}
	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	host, _ := os.Hostname()
	fmt.Printf("machine: %s, %d cores (GOMAXPROCS %d), %s %s/%s; %s per attack after %s warm-up, %d workers\n",
		host, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH, o.duration, o.warmup, o.concurrency)
	dir, err := os.MkdirTemp("", "jeeves-bench-bin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bins, err := build(dir)
	if err != nil {
		return err
	}
	var results []Result
	engines := []string{"sqlite"}
	if o.postgres != "" {
		engines = append(engines, "postgres")
	}
	for _, engine := range engines {
		fmt.Printf("== %s\n", engine)
		rs, err := runEngine(ctx, o, engine, bins)
		if err != nil {
			return fmt.Errorf("%s: %w", engine, err)
		}
		results = append(results, rs...)
	}
	if o.runs("limiter_keys") {
		// In process: the in-memory limiter on its own (issue 17).
		ratio := keyGrowthRatio(1_000_000, 1000)
		results = append(results, Result{Scenario: "limiter_keys", Engine: "-", Variant: "1M distinct keys",
			Target: "last/first <= 2", Extra: map[string]float64{"last_over_first": ratio}})
	}
	if o.runs("middleware_only") {
		mw, err := middlewareOnlyInChild(ctx)
		if err != nil {
			return err
		}
		results = append(results, mw...)
	}
	printTable(results)
	if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(o.out), err)
	}
	out := map[string]any{"machine": map[string]any{"cores": runtime.NumCPU(), "go": runtime.Version(),
		"host": host}, "options": map[string]any{"duration": o.duration.String(), "concurrency": o.concurrency}, "results": results}
	// make bench-instructions writes its "instructions" entry into the same file: kept.
	if old, err := os.ReadFile(o.out); err == nil {
		var prev map[string]json.RawMessage
		if json.Unmarshal(old, &prev) == nil && prev["instructions"] != nil {
			out["instructions"] = prev["instructions"]
		}
	}
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(o.out, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", o.out, err)
	}
	fmt.Printf("wrote %s\n", o.out)
	return nil
}

func printTable(results []Result) {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "scenario\tengine\tvariant\treq/s\tp50 ms\tp90 ms\tp99 ms\terrors\tbaseline req/s\tratio req/s\tratio p99\ttarget\t")
	for _, r := range results {
		base, ratio, ratioP99 := "-", "-", "-"
		if r.Baseline != nil {
			base = fmt.Sprintf("%.0f", r.Baseline.RPS)
			ratio = fmt.Sprintf("%.2f", r.RatioRPS)
			if r.RatioP99 > 0 {
				ratioP99 = fmt.Sprintf("%.2f", r.RatioP99)
			}
		}
		target := r.Target
		if target == "" {
			target = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%.0f\t%.2f\t%.2f\t%.2f\t%d\t%s\t%s\t%s\t%s\t\n", r.Scenario, r.Engine, dash(r.Variant),
			r.RPS, r.P50ms, r.P90ms, r.P99ms, r.Errors, base, ratio, ratioP99, target)
	}
	w.Flush()
	for _, r := range results {
		if len(r.Extra) > 0 {
			fmt.Printf("%s %s %s:", r.Scenario, r.Engine, r.Variant)
			for k, v := range r.Extra {
				fmt.Printf(" %s=%.4g", k, v)
			}
			fmt.Println()
		}
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
