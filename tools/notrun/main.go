// Command notrun ends make test: one line per thing its tests did not run
// (recorded by internal/testkit/notrun in the directory it is given), so
// that what go test hides without -v is said where a newcomer looks last.
package main

import (
	"fmt"
	"os"

	"github.com/jeeves4service/jeeves4service/internal/testkit/notrun"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: notrun DIR (the TEST_NOT_RUN_DIR make test gave its tests)")
		os.Exit(2)
	}
	n, err := notrun.Report(os.Args[1], "make test: not run: ", os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "notrun:", err)
		os.Exit(1)
	}
	if n == 0 {
		fmt.Println("make test: everything ran (PostgreSQL, Redis, promtool, the browser, HAProxy, the Node linters)")
	}
}
