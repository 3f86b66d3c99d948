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
	"runtime/debug"
	"sync"

	"github.com/jeeves4service/jeeves4service/services/common/config"
	"github.com/jeeves4service/jeeves4service/services/common/listener"
	"github.com/jeeves4service/jeeves4service/services/common/logging"
)

// Runner is a started service.
type Runner interface {
	Serve(ctx context.Context) error
}

// Main sets up logging, reads the configuration with load, builds the
// service with start, and serves until ctx ends. A configuration error prints
// one line naming the variable and exits 2; any other start-up failure exits 1.
func Main[C any, R Runner](ctx context.Context, getenv config.Getenv, stderr io.Writer, name string,
	load func(config.Getenv) (C, error), start func(context.Context, C, *slog.Logger) (R, error)) int {
	err := run(ctx, getenv, stderr, name, load, start)
	if err == nil {
		return 0
	}
	var cfgErr *config.Error
	if errors.As(err, &cfgErr) {
		fmt.Fprintf(stderr, "%s: configuration error: %s\n", name, cfgErr.Error())
		return config.ExitCode
	}
	fmt.Fprintf(stderr, "%s: %v\n", name, err)
	return 1
}

// DefaultGCPercent is the services' GOGC unless the environment sets one.
// Their live heap is a few MB, so with Go's default of 100 the collector runs
// after every few MB of garbage, a visible share of the CPU of a service that
// allocates per request; 200 halves how often it runs for a few MB more heap.
const DefaultGCPercent = 200

func run[C any, R Runner](ctx context.Context, getenv config.Getenv, stderr io.Writer, name string,
	load func(config.Getenv) (C, error), start func(context.Context, C, *slog.Logger) (R, error)) error {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(DefaultGCPercent)
	}
	out, err := logging.NewOutput(getenv, stderr)
	if err != nil {
		return err
	}
	defer out.Close() // everything logged is written before the process exits
	log, err := logging.New(getenv, out, name)
	if err != nil {
		return err
	}
	r := config.NewReader(getenv)
	if listener.ShutdownDelay = config.Parse(r, "SHUTDOWN_DELAY", "0s", config.Delay); r.Err() != nil {
		return r.Err()
	}
	cfg, err := load(getenv)
	if err != nil {
		return err
	}
	svc, err := start(ctx, cfg, log)
	if err != nil {
		return err
	}
	return svc.Serve(ctx)
}

// Resources are what a service opened and must release (database pools,
// Redis clients, exporters), and loops that run in the background while it
// serves (the JWKS refresh, identity rotation).
type Resources struct {
	closers []func() error
	loops   []func(context.Context)
}

// OnClose registers f to run when the service stops (or fails to start);
// they run in reverse order of registration.
func (r *Resources) OnClose(f func() error) { r.closers = append(r.closers, f) }

// Background registers a loop to run while the service serves; it must
// return when its context ends.
func (r *Resources) Background(loop func(context.Context)) { r.loops = append(r.loops, loop) }

// Release runs the closers and returns err joined with theirs: New's
// failure paths end with `return nil, res.Release(err)`.
func (r *Resources) Release(err error) error {
	errs := []error{err}
	for i := len(r.closers) - 1; i >= 0; i-- {
		errs = append(errs, r.closers[i]())
	}
	r.closers = nil
	return errors.Join(errs...)
}

// Serve runs the background loops and serve until ctx ends, stops the loops,
// then releases everything.
func (r *Resources) Serve(ctx context.Context, serve func(context.Context) error) error {
	ctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, loop := range r.loops {
		wg.Add(1)
		go func() { defer wg.Done(); loop(ctx) }()
	}
	err := serve(ctx)
	stop()
	wg.Wait()
	return r.Release(err)
}
