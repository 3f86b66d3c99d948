package jwtauth

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// RemoteKeys holds the verifying keys published at a JWKS URL (the user
// service's). The set is refreshed on a schedule by Run (every Interval, or
// sooner when the JWKS says Cache-Control: max-age), and at once when a token
// names a kid it does not hold (the user service rotated its key). A
// successful fetch replaces the whole set, so a key withdrawn from the JWKS
// stops being trusted; a failed fetch keeps the last good set.
//
// Fetches run on their own context with their own timeout, and concurrent
// callers share one (singleflight): a caller that gives up or drops its
// connection cannot cancel or fail the fetch for everyone else. Only failed
// fetches back off (from MinBackoff, doubling to MaxBackoff); a successful one
// never delays the next, so a flood of bogus kids cannot keep a real new kid
// out (at most one fetch runs at a time, so it cannot flood the JWKS either).
type RemoteKeys struct {
	Client     *http.Client
	Interval   time.Duration
	Timeout    time.Duration
	MinBackoff time.Duration
	MaxBackoff time.Duration

	flight singleflight.Group
	wake   chan struct{} // tells Run that a fetch finished, so it plans again

	mu       sync.RWMutex
	url      string
	keys     map[string]ed25519.PublicKey
	ttl      time.Duration // until the set is due for a refresh (Interval or a shorter max-age)
	lastGood time.Time     // when the last successful fetch started
	failures int           // consecutive failed fetches
	retryAt  time.Time     // no fetch for an unknown kid before this, after a failure
}

// Defaults for RemoteKeys.
const (
	DefaultJWKSInterval = 5 * time.Minute
	jwksTimeout         = 3 * time.Second
	minMaxAge           = time.Second // a max-age of 0 must not turn into a fetch loop
)

// NewRemoteKeys returns a RemoteKeys for url, refreshed every interval
// (DefaultJWKSInterval when interval is not positive).
func NewRemoteKeys(url string, interval time.Duration) *RemoteKeys {
	if interval <= 0 {
		interval = DefaultJWKSInterval
	}
	return &RemoteKeys{url: url, wake: make(chan struct{}, 1), Client: &http.Client{}, Interval: interval, Timeout: jwksTimeout,
		MinBackoff: time.Second, MaxBackoff: 30 * time.Second}
}

// SetURL points the keys at another JWKS (tests bind the user service after
// the property service, on a port chosen by the kernel).
func (r *RemoteKeys) SetURL(url string) {
	r.mu.Lock()
	r.url = url
	r.mu.Unlock()
}

// ErrJWKSUnavailable means the JWKS could not be fetched lately and the kid is unknown.
var ErrJWKSUnavailable = errors.New("JWKS unavailable")

// Key implements KeySource.
func (r *RemoteKeys) Key(_ context.Context, kid string) (ed25519.PublicKey, error) {
	if k, ok := r.lookup(kid); ok {
		return k, nil
	}
	arrived := time.Now()
	r.mu.RLock()
	backingOff := arrived.Before(r.retryAt)
	r.mu.RUnlock()
	if backingOff {
		return nil, fmt.Errorf("%w (kid %q): retrying later", ErrJWKSUnavailable, kid)
	}
	// Join the fetch under way, or start one. A fetch that began before this
	// caller arrived may predate a newly published key: if the kid is still
	// unknown after it, fetch once more.
	started, err := r.shared()
	if k, ok := r.lookup(kid); ok {
		return k, nil
	}
	if started.Before(arrived) {
		_, err = r.shared()
		if k, ok := r.lookup(kid); ok {
			return k, nil
		}
	}
	if err != nil {
		return nil, err
	}
	return nil, ErrUnknownKey
}

// Has implements KeySource.
func (r *RemoteKeys) Has(kid string) bool {
	_, ok := r.lookup(kid)
	return ok
}

func (r *RemoteKeys) lookup(kid string) (ed25519.PublicKey, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	k, ok := r.keys[kid]
	return k, ok
}

// Run refreshes the set on schedule until ctx ends.
func (r *RemoteKeys) Run(ctx context.Context) {
	for {
		timer := time.NewTimer(r.untilNextRefresh(time.Now()))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-r.wake: // a fetch on demand finished: plan from its outcome
			timer.Stop()
			continue
		case <-timer.C:
		}
		_, _ = r.shared()
	}
}

// untilNextRefresh: a failed fetch is retried once its back-off has passed; a
// good set is refreshed when due. Before anything was fetched there is nothing
// to refresh: the first fetch happens when a token first needs a key, so the
// property service may start before the user service (start-up order never
// matters), and it looks again after a while.
func (r *RemoteKeys) untilNextRefresh(now time.Time) time.Duration {
	r.mu.RLock()
	defer r.mu.RUnlock()
	switch {
	case r.failures > 0:
		return max(r.retryAt.Sub(now), 0)
	case r.lastGood.IsZero():
		return r.Interval
	}
	return max(r.lastGood.Add(r.ttl).Sub(now), 0)
}

// shared joins the fetch under way or starts one (only one runs at a time),
// and returns when that fetch started and how it ended.
func (r *RemoteKeys) shared() (time.Time, error) {
	v, err, _ := r.flight.Do("jwks", func() (any, error) { return r.refresh() })
	started, _ := v.(time.Time)
	return started, err
}

// refresh fetches the set once and records the outcome; it returns when the fetch started.
func (r *RemoteKeys) refresh() (time.Time, error) {
	started := time.Now()
	keys, ttl, err := r.fetch()
	defer func() {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.failures++
		backoff := min(r.MinBackoff<<min(r.failures-1, 16), r.MaxBackoff)
		r.retryAt = time.Now().Add(backoff)
		return started, err
	}
	r.keys, r.ttl, r.lastGood, r.failures, r.retryAt = keys, ttl, started, 0, time.Time{}
	return started, nil
}

func (r *RemoteKeys) fetch() (map[string]ed25519.PublicKey, time.Duration, error) {
	r.mu.RLock()
	url := r.url
	r.mu.RUnlock()
	ctx, cancel := context.WithTimeout(context.Background(), r.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("fetch JWKS %s: %w", url, err)
	}
	resp, err := r.Client.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("fetch JWKS %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("fetch JWKS %s: status %d", url, resp.StatusCode)
	}
	var set JWKS
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil {
		return nil, 0, fmt.Errorf("decode JWKS %s: %w", url, err)
	}
	keys := map[string]ed25519.PublicKey{}
	for _, k := range set.Keys {
		pub, err := ParseJWK(k)
		if err != nil {
			continue // a key of another kind is not ours to use
		}
		keys[k.Kid] = pub
	}
	return keys, r.ttlFrom(resp.Header.Get("Cache-Control")), nil
}

// ttlFrom is Interval, or the response's max-age when that is shorter.
func (r *RemoteKeys) ttlFrom(cacheControl string) time.Duration {
	ttl := r.Interval
	for _, directive := range strings.Split(cacheControl, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(directive), "=")
		if !strings.EqualFold(name, "max-age") {
			continue
		}
		if secs, err := strconv.Atoi(value); err == nil && secs >= 0 {
			ttl = min(ttl, max(time.Duration(secs)*time.Second, minMaxAge))
		}
	}
	return ttl
}
