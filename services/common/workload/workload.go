// Package workload is a service as the others see it in internal calls,
// read from its environment: the variables of its Role mapped onto the
// internal-call library (package internalauth), which reads none itself.
// The services use the library through this package as examples/ uses it
// directly.
package workload

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jeeves4service/jeeves4service/internalauth"
	"github.com/jeeves4service/jeeves4service/internalauth/identity"
	"github.com/jeeves4service/jeeves4service/services/common/config"
)

// Workload is this service as the others see it in internal calls: how it
// proves who it is when it calls (Client) and how it checks who calls it
// (Guard). In the modes that use SPIFFE it holds the service's identity
// source (the Workload API or files), which Run keeps current.
type Workload struct {
	cfg Config
	src identity.Source // nil in token mode
	log *slog.Logger
	// subjects gives the subject tokens of calls made for a user (SetSubjects).
	subjects internalauth.SubjectSource
}

// Open returns the workload cfg describes, with its SPIFFE identity loaded
// when the mode uses one (it waits for a first identity; see identity.Open).
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Workload, error) {
	w := &Workload{cfg: cfg, log: log}
	if cfg.Mode.TakesSPIFFE() {
		src, err := identity.Open(ctx, cfg.Identity, log)
		var dirErr *identity.DirError
		if errors.As(err, &dirErr) {
			return nil, &config.Error{Var: "SPIFFE_DIR", Problem: fmt.Sprintf("no identity in %s (make one with "+
				"`user-service identity init`): %v", dirErr.Dir, dirErr.Err)}
		}
		if err != nil {
			return nil, err // says where it looked
		}
		w.src = src
	}
	return w, nil
}

// Run watches for identity rotations until ctx ends (nothing to watch in
// token mode), then releases the identity source.
func (w *Workload) Run(ctx context.Context) {
	if w.src != nil {
		w.src.Run(ctx)
	}
}

// Name is the workload's caller name.
func (w *Workload) Name() string { return w.cfg.Name }
