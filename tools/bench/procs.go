package main

import (
	"path/filepath"

	"github.com/jeeves4service/jeeves4service/tools/procs"
)

// The services under test run as their shipped binaries in child processes,
// so the load generator's goroutines, GC and scheduler (this process) never
// share a runtime with them. build compiles them, and the two baselines,
// once per run.
type binaries struct {
	user, property, limit, baseline string
}

func build(dir string) (binaries, error) {
	b := binaries{user: filepath.Join(dir, "user-service"), property: filepath.Join(dir, "property-service"),
		limit: filepath.Join(dir, "limit"), baseline: filepath.Join(dir, "baseline")}
	return b, procs.Build(map[string]string{b.user: "./services/user/cmd/user-service",
		b.property: "./services/property/cmd/property-service", b.limit: "./tools/bench/limit", b.baseline: "./tools/bench/baseline"})
}
