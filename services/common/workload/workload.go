package internalauth

import (
	"context"
	"log/slog"

	"github.com/jeeves4service/jeeves4service/internalauth/identity"
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
	subjects SubjectSource
}

// Open returns the workload cfg describes, with its SPIFFE identity loaded
// when the mode uses one (it waits for a first identity; see identity.Open).
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Workload, error) {
	w := &Workload{cfg: cfg, log: log}
	if cfg.Mode.TakesSPIFFE() {
		src, err := identity.Open(ctx, cfg.Identity, log)
		if err != nil {
			return nil, err // says where it looked; a *config.Error for a SPIFFE_DIR without an identity
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
