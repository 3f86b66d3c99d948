// Command speclint validates OpenAPI contracts beyond what a parser checks:
// the rules this project relies on for its security (see docs/security.md and docs/contract.md).
package main

import (
	"context"
	"fmt"
	"os"
)

func main() {
	failed := false
	for _, path := range os.Args[1:] {
		data, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "speclint: %v\n", err)
			os.Exit(1)
		}
		problems, err := Check(context.Background(), data)
		if err != nil {
			fmt.Fprintf(os.Stderr, "speclint: %s: %v\n", path, err)
			failed = true
			continue
		}
		for _, p := range problems {
			fmt.Fprintf(os.Stderr, "speclint: %s: %s\n", path, p)
			failed = true
		}
		if len(problems) == 0 {
			fmt.Printf("speclint: %s: ok\n", path)
		}
	}
	if failed {
		os.Exit(1)
	}
}
