package workload

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/jeeves4service/jeeves4service/internalauth"
	"github.com/jeeves4service/jeeves4service/internalauth/limit"
	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
	"github.com/jeeves4service/jeeves4service/services/common/ratelimit"
	"github.com/jeeves4service/jeeves4service/services/common/reqinfo"
)

// ExchangeOptions are what an Exchanger needs from the service that signs
// subject tokens besides its keys.
type ExchangeOptions struct {
	// Live says whether the session of a verified access token is live
	// (the service's own rule, as /me applies it). Required.
	Live func(ctx context.Context, user *jwtauth.Claims) (bool, error)
	// PerUser is the budget of exchanges per (user, operation) (nil: none).
	PerUser ratelimit.Limiter
	// Callees are other services the exchange issues subject tokens for,
	// each with its own contract (INTERNAL_EXCHANGE_CONTRACTS).
	Callees []CalleeContract
}

// CalleeContract is another service's internal contract, given to the
// token service as configuration.
type CalleeContract struct {
	Name     string
	Contract *openapi3.T
}

// Exchanger returns the exchange of the service that signs subject tokens
// (the user service): access verifies its users' access tokens, signer
// signs with the same key, self is its own internal contract, o its session
// check (required), exchange budget and the other callees' contracts. The
// subject tokens it issues live at most subject.MaxTTL, never past the
// access token. A callee's audience is its name, or with SPIFFE its SPIFFE
// ID in this service's trust domain.
func (w *Workload) Exchanger(access *jwtauth.Verifier, signer *jwtauth.Signer, self *openapi3.T,
	o ExchangeOptions) (*internalauth.Exchanger, error) {
	if o.Live == nil {
		return nil, errors.New("workload: an exchanger needs a session check (an ended session's token must be refused)")
	}
	x := &internalauth.Exchanger{
		Access: func(ctx context.Context, token string) (internalauth.AccessToken, error) {
			c, err := access.Verify(ctx, token)
			if err != nil {
				return internalauth.AccessToken{}, err
			}
			return internalauth.AccessToken{Subject: strconv.FormatInt(c.UserID, 10), Expires: c.ExpiresAt.Time, Claims: c}, nil
		},
		Signer: signer.Subjects(),
		Live: func(ctx context.Context, user internalauth.AccessToken) (bool, error) {
			c, ok := user.Claims.(*jwtauth.Claims)
			if !ok {
				return false, errors.New("exchange: the access token's claims are not the user service's")
			}
			return o.Live(ctx, c)
		},
		PerUser: o.PerUser,
		Budget: func(ctx context.Context, b limit.Budget, d limit.Decision) {
			// Governs the answer's RateLimit fields when refused or closer to
			// running out than the caller's request budget.
			info := reqinfo.From(ctx)
			if !d.Allowed || info.RateLimit.Name == "" || d.Remaining < info.RateLimit.Decision.Remaining {
				info.RateLimit = limit.Governing{Name: internalauth.ExchangeBudgetName, Budget: b, Decision: d}
			}
		},
	}
	callees := []internalauth.Callee{{Name: w.cfg.Name, ID: w.spiffeID(w.cfg.Name), Contract: self}}
	for _, c := range o.Callees {
		callees = append(callees, internalauth.Callee{Name: c.Name, ID: w.spiffeID(c.Name), Contract: c.Contract})
	}
	if err := x.Serve(callees...); err != nil {
		return nil, err
	}
	return x, nil
}

// spiffeID is the SPIFFE ID of the service called name in this workload's
// trust domain ("" without SPIFFE).
func (w *Workload) spiffeID(name string) string {
	if w.src == nil {
		return ""
	}
	id, err := spiffeid.FromPath(w.src.ID().TrustDomain(), "/"+name)
	if err != nil {
		return ""
	}
	return id.String()
}

// LoadContracts reads INTERNAL_EXCHANGE_CONTRACTS-style lists,
// "name=path,name=path": other services' internal contracts.
func LoadContracts(list map[string]string) ([]CalleeContract, error) {
	var out []CalleeContract
	for name, path := range list {
		doc, err := openapi3.NewLoader().LoadFromFile(path)
		if err != nil {
			return nil, fmt.Errorf("contract of %s at %s: %w", name, path, err)
		}
		if err := doc.Validate(context.Background()); err != nil {
			return nil, fmt.Errorf("contract of %s at %s: %w", name, path, err)
		}
		if _, err := internalauth.Policies(doc); err != nil {
			return nil, fmt.Errorf("contract of %s at %s: %w", name, path, err)
		}
		out = append(out, CalleeContract{Name: name, Contract: doc})
	}
	return out, nil
}
