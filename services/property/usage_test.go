package property_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/jeeves4service/jeeves4service/services/property"
)

// property-service --help prints its usage and exits 0 (issue 36); it used
// to ignore its arguments and start serving. Any other argument is a usage
// error.
func TestHelpPrintsUsageAndExits0(t *testing.T) {
	for _, arg := range []string{"--help", "-h"} {
		var stdout, stderr bytes.Buffer
		code, done := property.Args([]string{arg}, &stdout, &stderr)
		if !done || code != 0 || !strings.Contains(stdout.String(), "usage: property-service") || stderr.Len() != 0 {
			t.Fatalf("%s: done %v, status %d, stdout %q, stderr %q", arg, done, code, stdout.String(), stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	if code, done := property.Args([]string{"serve"}, &stdout, &stderr); !done || code != 2 ||
		!strings.Contains(stderr.String(), `"serve"`) {
		t.Fatalf("an unknown argument: done %v, status %d, stderr %q", done, code, stderr.String())
	}
	if _, done := property.Args(nil, &stdout, &stderr); done {
		t.Fatal("without arguments the service must start")
	}
}
