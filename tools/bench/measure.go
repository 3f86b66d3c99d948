package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/jeeves4service/jeeves4service/tools/procs"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// attack warms up, then measures target for o.duration.
func attack(o options, targets ...vegeta.Target) Result {
	return measure(o, [][]vegeta.Target{targets})[0]
}

// pairRounds is how many slices variants alternate in. The ratio of a
// comparison is the median of its per-round ratios: on a shared machine a
// neighbour's burst during one slice then moves one round, not the result.
const pairRounds = 8

// variant is one side of a comparison: its targets, and the process that
// serves them (nil when it is not a child process), whose CPU time per
// request the result reports.
type variant struct {
	targets []vegeta.Target
	server  *procs.Proc
}

// measure warms each variant up, then runs them in alternating slices
// (A B C, C B A, A B C, C B A) of o.duration/pairRounds each, so that a
// disturbance on a shared machine (another process, a checkpoint) falls on
// every variant instead of on whichever happened to run last.
func measure(o options, targetSets [][]vegeta.Target) []Result {
	vs := make([]variant, len(targetSets))
	for i, t := range targetSets {
		vs[i] = variant{targets: t}
	}
	return measureVariants(o, vs)
}

func measureVariants(o options, variants []variant) []Result {
	// An Attacker stops for good after one attack: a new one per slice.
	attacker := func() *vegeta.Attacker {
		return vegeta.NewAttacker(vegeta.Workers(uint64(o.concurrency)), vegeta.MaxWorkers(uint64(o.concurrency)),
			vegeta.Connections(o.concurrency*2), vegeta.Timeout(10*time.Second), vegeta.KeepAlive(true))
	}
	rate := vegeta.Rate{Freq: 0} // as fast as the workers go
	targeters := make([]vegeta.Targeter, len(variants))
	for i, v := range variants {
		targeters[i] = vegeta.NewStaticTargeter(v.targets...)
		for range attacker().Attack(targeters[i], rate, o.warmup, "warmup") {
		}
	}
	metrics := make([]vegeta.Metrics, len(variants))
	busy := make([]time.Duration, len(variants))
	cpu := make([]time.Duration, len(variants))
	roundRPS := make([][]float64, len(variants))
	rounds := 1
	if len(variants) > 1 {
		rounds = pairRounds
	}
	for round := 0; round < rounds; round++ {
		for k := range variants {
			i := k
			if round%2 == 1 {
				i = len(variants) - 1 - k
			}
			start, cpuStart := time.Now(), variants[i].server.CPU()
			ok := 0
			for res := range attacker().Attack(targeters[i], rate, o.duration/time.Duration(rounds), "measure") {
				metrics[i].Add(res)
				if res.Code >= 200 && res.Code < 300 {
					ok++
				}
			}
			took := time.Since(start)
			busy[i] += took
			cpu[i] += variants[i].server.CPU() - cpuStart
			roundRPS[i] = append(roundRPS[i], float64(ok)/took.Seconds())
		}
	}
	out := make([]Result, len(variants))
	for i := range variants {
		out[i] = summarize(&metrics[i], busy[i])
		out[i].RoundRPS = roundRPS[i]
		if variants[i].server != nil && metrics[i].Requests > 0 {
			out[i].CPUPerRequestUS = float64(cpu[i].Microseconds()) / float64(metrics[i].Requests)
		}
	}
	return out
}

// summarize turns vegeta's metrics into a Result: requests per second of
// measured time (vegeta's own throughput would count the other variants'
// slices as idle time), latency quantiles, and every non-2xx as an error.
func summarize(m *vegeta.Metrics, busy time.Duration) Result {
	m.Close()
	var errs uint64
	for code, n := range m.StatusCodes {
		if code[0] != '2' {
			errs += uint64(n)
		}
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return Result{RPS: float64(m.Requests-errs) / busy.Seconds(), P50ms: ms(m.Latencies.P50), P90ms: ms(m.Latencies.P90),
		P99ms: ms(m.Latencies.P99), Errors: errs}
}

// versus names r and base and computes their ratios.
func versus(r, base Result, scenario, engine, baselineIs, target string) Result {
	r.Scenario, r.Engine, r.Target, r.BaselineIs = scenario, engine, target, baselineIs
	base.Scenario, base.Engine, base.Variant = scenario, engine, "baseline"
	r.Baseline = &base
	if base.RPS > 0 {
		r.RatioRPS = r.RPS / base.RPS
	}
	if len(r.RoundRPS) > 1 && len(r.RoundRPS) == len(base.RoundRPS) {
		ratios := make([]float64, len(r.RoundRPS))
		for i := range ratios {
			ratios[i] = r.RoundRPS[i] / base.RoundRPS[i]
		}
		r.RatioRPS = median(ratios)
	}
	if base.P99ms > 0 && r.P99ms > 0 {
		r.RatioP99 = r.P99ms / base.P99ms
	}
	return r
}

// post sends a JSON body and decodes a JSON answer into out (when not nil).
func post(url string, body any, out any, headers ...string) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequest("POST", url, bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("POST %s: %d %s", url, resp.StatusCode, b)
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}
