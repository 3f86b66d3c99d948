// Command contractcov fails unless the tests exercised every operation of both
// contracts with every documented 2xx and 4xx status; it prints what is missing.
package main

import (
	"fmt"
	"os"

	"github.com/jeeves4service/jeeves4service/internal/testkit/contract"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: contractcov DIR (the CONTRACT_COVERAGE_DIR of a test run)")
		os.Exit(2)
	}
	pub, in, err := contract.Specs()
	if err != nil {
		fmt.Fprintln(os.Stderr, "contractcov:", err)
		os.Exit(1)
	}
	seen, err := contract.Exercised(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "contractcov:", err)
		os.Exit(1)
	}
	failed := false
	for _, spec := range []*contract.Spec{pub, in} {
		pairs := contract.Documented(spec)
		ops := map[string]bool{}
		opsSeen := map[string]bool{}
		var missing []contract.Pair
		for _, p := range pairs {
			ops[p.Operation] = true
			if seen[p] > 0 {
				opsSeen[p.Operation] = true
			} else {
				missing = append(missing, p)
			}
		}
		covered := len(pairs) - len(missing)
		fmt.Printf("contract coverage %s: operations %d/%d (%.0f %%), operation statuses %d/%d (%.0f %%)\n",
			spec.Name, len(opsSeen), len(ops), 100*float64(len(opsSeen))/float64(len(ops)),
			covered, len(pairs), 100*float64(covered)/float64(len(pairs)))
		for _, p := range missing {
			fmt.Printf("  not exercised: %s %s\n", p.Operation, p.Status)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}
