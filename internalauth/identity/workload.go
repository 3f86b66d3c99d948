package identity

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/jwtbundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
)

// workload is a Source backed by the SPIFFE Workload API (a SPIRE agent):
// the agent streams X.509-SVID and bundle rotations, and mints JWT-SVIDs.
type workload struct {
	*workloadapi.X509Source
	jwt *workloadapi.JWTSource
	id  spiffeid.ID
	log *slog.Logger
	jwts
}

func openWorkloadAPI(ctx context.Context, socket string, log *slog.Logger) (*workload, error) {
	client := workloadapi.WithClientOptions(workloadapi.WithAddr(socket))
	x, err := workloadapi.NewX509Source(ctx, client)
	if err != nil {
		return nil, fmt.Errorf("X.509 source: %w", err)
	}
	j, err := workloadapi.NewJWTSource(ctx, client)
	if err != nil {
		_ = x.Close()
		return nil, fmt.Errorf("JWT source: %w", err)
	}
	svid, err := x.GetX509SVID()
	if err != nil {
		_ = x.Close()
		_ = j.Close()
		return nil, fmt.Errorf("X.509-SVID: %w", err)
	}
	w := &workload{X509Source: x, jwt: j, id: svid.ID, log: log}
	w.jwts.fetch = func(ctx context.Context, audience spiffeid.ID) (string, time.Time, error) {
		s, err := j.FetchJWTSVID(ctx, jwtsvid.Params{Audience: audience.String()})
		if err != nil {
			return "", time.Time{}, fmt.Errorf("fetch JWT-SVID for %s: %w", audience, err)
		}
		return s.Marshal(), s.Expiry, nil
	}
	log.Info("identity from the SPIFFE Workload API", "spiffe_id", w.id.String(), "expires", svid.Certificates[0].NotAfter)
	return w, nil
}

func (w *workload) ID() spiffeid.ID { return w.id }

// GetJWTBundleForTrustDomain implements jwtbundle.Source.
func (w *workload) GetJWTBundleForTrustDomain(td spiffeid.TrustDomain) (*jwtbundle.Bundle, error) {
	return w.jwt.GetJWTBundleForTrustDomain(td)
}

func (w *workload) Run(ctx context.Context) {
	defer w.jwt.Close()
	defer w.X509Source.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.Updated():
			if svid, err := w.GetX509SVID(); err == nil {
				w.log.Info("identity rotated", "spiffe_id", svid.ID.String(), "serial", svid.Certificates[0].SerialNumber.String(),
					"expires", svid.Certificates[0].NotAfter)
			}
		}
	}
}

// jwts caches one JWT-SVID per audience and fetches a new one once half of
// the current one's life is spent, so a caller never presents one about to
// expire and never asks the agent on every call.
type jwts struct {
	fetch func(ctx context.Context, audience spiffeid.ID) (string, time.Time, error)

	mu     sync.Mutex
	cached map[spiffeid.ID]cachedJWT
}

type cachedJWT struct {
	token           string
	renew, lifetime time.Time
}

func (c *jwts) JWTSVID(ctx context.Context, audience spiffeid.ID) (string, error) {
	now := time.Now()
	c.mu.Lock()
	hit, ok := c.cached[audience]
	c.mu.Unlock()
	if ok && now.Before(hit.renew) {
		return hit.token, nil
	}
	token, expiry, err := c.fetch(ctx, audience)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	if c.cached == nil {
		c.cached = map[spiffeid.ID]cachedJWT{}
	}
	c.cached[audience] = cachedJWT{token: token, renew: now.Add(expiry.Sub(now) / 2), lifetime: expiry}
	c.mu.Unlock()
	return token, nil
}

// forget drops cached JWT-SVIDs (their signing key may have changed).
func (c *jwts) forget() {
	c.mu.Lock()
	c.cached = nil
	c.mu.Unlock()
}
