// Package lifecycle is a service process from start to exit: set up logging,
// build the service, serve until the context ends, and turn the outcome into
// an exit status (2 for a configuration error, with one line naming the
// variable). Both services' Main is lifecycle.Main.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"jeeves4service/services/common/config"
	"jeeves4service/services/common/logging"
)

// Runner is a started service.
type Runner interface {
	Serve(ctx context.Context) error
}

// Main sets up logging, builds the service with start, and serves until ctx
// ends. A configuration error prints one line naming the variable and exits 2;
// any other start-up failure exits 1.
func Main(ctx context.Context, getenv config.Getenv, stderr io.Writer, name string,
	start func(context.Context, *slog.Logger) (Runner, error)) int {
	log, err := logging.New(getenv, stderr, name)
	if err == nil {
		var svc Runner
		if svc, err = start(ctx, log); err == nil {
			if err = svc.Serve(ctx); err == nil {
				return 0
			}
		}
	}
	var cfgErr *config.Error
	if errors.As(err, &cfgErr) {
		fmt.Fprintf(stderr, "%s: configuration error: %s\n", name, cfgErr.Error())
		return config.ExitCode
	}
	fmt.Fprintf(stderr, "%s: %v\n", name, err)
	return 1
}
