package property

import (
	"fmt"
	"io"
)

// usage is what property-service --help prints. The service has no
// commands: everything about it is set by environment variables.
const usage = `usage: property-service            serve: the public, internal and admin listeners, configured by
                                   environment variables (docs/operations.md lists every one)
       property-service --help     this text
`

// Args handles property-service's command line before it serves: --help
// prints the usage (status 0); any other argument is a usage error (status
// 2), where it used to be ignored and the service started anyway. done is
// false when there were no arguments and the service should start.
func Args(args []string, stdout, stderr io.Writer) (code int, done bool) {
	switch {
	case len(args) == 0:
		return 0, false
	case len(args) == 1 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help"):
		fmt.Fprint(stdout, usage)
		return 0, true
	}
	fmt.Fprintf(stderr, "property-service: unexpected argument %q: it has no commands\n%s", args[0], usage)
	return 2, true
}
