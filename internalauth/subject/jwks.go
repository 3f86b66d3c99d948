package subject

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
// names a kid it does not hold (the token service rotated its key). A
// successful fetch replaces the whole set, so a key withdrawn from the JWKS
// stops being trusted; a failed fetch keeps the last good set.
//
// Fetches run on their own context with their own timeout, and concurrent
// callers share one (singleflight): a caller that gives up or drops its
// connection cannot cancel or fail the fetch for everyone else.
//
// A fetch on demand starts at least MinRefetch after the last fetch started,
// whatever arrives: a flood of tokens with bogus kids gets at most one fetch
// per MinRefetch (and only clients with request budget left may wait for
// it). A token with a kid not held waits for the next
// fetch rather than being refused, so a real newly published key is accepted
// on its first request: at most MinRefetch (plus the fetch) after the key is
// published, its tokens verify. Failed fetches back off besides (from
// MinBackoff, doubling to MaxBackoff); a caller arriving then is refused at
// once, since the last good set is kept.
type RemoteKeys struct {
	Client     *http.Client
	Interval   time.Duration
	Timeout    time.Duration
	MinBackoff time.Duration
	MaxBackoff time.Duration
	MinRefetch time.Duration

	flight singleflight.Group
	wake   chan struct{} // tells Run that a fetch finished, so it plans again

	mu       sync.RWMutex
	url      string
	keys     map[string]ed25519.PublicKey
	ttl      time.Duration // until the set is due for a refresh (Interval or a shorter max-age)
	lastGood time.Time     // when the last successful fetch started
	last     time.Time     // when the last fetch (on schedule or on demand) started
	lastErr  error         // how it ended
	failures int           // consecutive failed fetches
	retryAt  time.Time     // no fetch for an unknown kid before this, after a failure
}

// Defaults for RemoteKeys.
const (
	DefaultJWKSInterval = 5 * time.Minute
	// DefaultJWKSMinRefetch spaces fetches on demand: one a second keeps a
	// flood's fetches negligible for the JWKS (60 a minute per replica), and is
	// the longest a token of a newly published key waits.
	DefaultJWKSMinRefetch = time.Second
	jwksTimeout           = 3 * time.Second
	minMaxAge             = time.Second // a max-age of 0 must not turn into a fetch loop
)

// NewRemoteKeys returns a RemoteKeys for url, refreshed every interval
// (DefaultJWKSInterval when interval is not positive) while Run runs: without
// Run, a key is fetched only for a kid not held yet, and a key withdrawn
// from the JWKS stays trusted.
func NewRemoteKeys(url string, interval time.Duration) *RemoteKeys {
	if interval <= 0 {
		interval = DefaultJWKSInterval
	}
	// No redirect is followed: the URL was checked (https, or plain http on
	// loopback) and a redirect would take the fetch past that check.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return errJWKSRedirect }}
	return &RemoteKeys{url: url, wake: make(chan struct{}, 1), Client: client, Interval: interval, Timeout: jwksTimeout,
		MinBackoff: time.Second, MaxBackoff: 30 * time.Second, MinRefetch: DefaultJWKSMinRefetch}
}

// errJWKSRedirect is a JWKS fetch answered with a redirect, not followed.
var errJWKSRedirect = errors.New("answered with a redirect; the JWKS is fetched only at its configured URL")

// ErrJWKSUnavailable means the JWKS could not be fetched lately and the kid is unknown.
var ErrJWKSUnavailable = errors.New("JWKS unavailable")

// Key implements KeySource. A kid not held waits for the next fetch (at most
// MinRefetch after the last one started) and is looked up in what it
// brought; a fetch that began before this caller arrived may predate a newly
// published key, so only a fetch begun after its arrival decides that the
// kid is unknown.
func (r *RemoteKeys) Key(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	if k, ok := r.lookup(kid); ok {
		return k, nil
	}
	arrived := time.Now()
	for {
		r.mu.RLock()
		retryAt, next := r.retryAt, r.last.Add(r.MinRefetch)
		r.mu.RUnlock()
		now := time.Now()
		if now.Before(retryAt) {
			return nil, fmt.Errorf("%w (kid %q): retrying later", ErrJWKSUnavailable, kid)
		}
		if wait := next.Sub(now); wait > 0 {
			timer := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				timer.Stop()
				return nil, fmt.Errorf("wait for the next JWKS fetch: %w", ctx.Err())
			case <-timer.C:
			}
		}
		started, err := r.onDemand()
		if k, ok := r.lookup(kid); ok {
			return k, nil
		}
		if !started.Before(arrived) {
			if err != nil {
				return nil, err
			}
			return nil, ErrUnknownKey
		}
	}
}

// onDemand joins the fetch under way, or starts one if the last began at
// least MinRefetch ago; it returns when the fetch it saw started and how it
// ended. The spacing is checked inside the single flight, so two callers
// that waited for the same moment cannot start two fetches one after the other.
func (r *RemoteKeys) onDemand() (time.Time, error) {
	v, err, _ := r.flight.Do("jwks", func() (any, error) {
		r.mu.RLock()
		last, lastErr := r.last, r.lastErr
		r.mu.RUnlock()
		if time.Since(last) < r.MinRefetch {
			return last, lastErr
		}
		return r.refresh()
	})
	started, _ := v.(time.Time)
	return started, err
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
// caller may start before the token service (start-up order never
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
	r.mu.Lock()
	r.last = started
	r.mu.Unlock()
	keys, ttl, err := r.fetch()
	defer func() {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastErr = err
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
