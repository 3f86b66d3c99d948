package listener

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// acceptErrorWindow is how long after its latest accept error a listener
// counts as not accepting, unless it has accepted a connection since. It is
// longer than the longest pause between two retries (net/http's back-off and
// tlsOrPlain's, 1 s), so a listener retrying in vain never looks well
// between two tries; a listener whose errors stopped because no connection
// is waiting counts as accepting again once it has passed.
const acceptErrorWindow = 3 * time.Second

// NotAcceptingError is why a listener is not ready: its accepts fail (no file
// descriptor left, typically), so no new connection is served however
// healthy the rest of the service is.
type NotAcceptingError struct {
	Listener string
	Since    time.Time
	Err      error
}

func (e *NotAcceptingError) Error() string {
	return fmt.Sprintf("listener %s cannot accept connections (since %s): %v", e.Listener, e.Since.UTC().Format(time.RFC3339), e.Err)
}

func (e *NotAcceptingError) Unwrap() error { return e.Err }

// watchedListener is a bound socket that remembers whether its accepts fail.
// Every listener of a service is one, under TLS and the first-byte sniffer,
// so that the server can tell /readyz (Server.Accepting) and the log: an
// ERROR line when accepts start failing, an INFO line when one succeeds again.
type watchedListener struct {
	net.Listener
	name string
	log  *slog.Logger

	failing atomic.Bool // the fast path of Accept: false while all is well
	mu      sync.Mutex
	since   time.Time // the first error of the current run of failures
	last    time.Time // the latest error
	lastErr error
	errs    int
}

func (l *watchedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		if !errors.Is(err, net.ErrClosed) { // closed: the server is stopping
			l.failed(err, time.Now())
		}
		return nil, err
	}
	if l.failing.Load() {
		l.recovered(time.Now())
	}
	return c, nil
}

func (l *watchedListener) failed(err error, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.since.IsZero() || now.Sub(l.last) > acceptErrorWindow {
		l.since, l.errs = now, 0
		l.log.Error("listener cannot accept connections", "listener", l.name, "error", err.Error())
	}
	l.last, l.lastErr = now, err
	l.errs++
	l.failing.Store(true)
}

func (l *watchedListener) recovered(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.since.IsZero() {
		return
	}
	l.log.Info("listener accepting again", "listener", l.name, "failed_for", now.Sub(l.since).Round(time.Millisecond).String(),
		"accept_errors", l.errs)
	l.since, l.lastErr, l.errs = time.Time{}, nil, 0
	l.failing.Store(false)
}

// accepting is nil, or why the listener cannot accept connections now.
func (l *watchedListener) accepting(now time.Time) error {
	if !l.failing.Load() {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.since.IsZero() || now.Sub(l.last) > acceptErrorWindow {
		return nil
	}
	return &NotAcceptingError{Listener: l.name, Since: l.since, Err: l.lastErr}
}

// retryableAccept reports whether an accept error is worth retrying, by the
// rule net/http's Server.Serve applies: a temporary error (EMFILE, ENFILE,
// ECONNABORTED, ...) or a timeout.
func retryableAccept(err error) bool {
	var t interface {
		Temporary() bool
		Timeout() bool
	}
	return errors.As(err, &t) && (t.Temporary() || t.Timeout())
}

// acceptBackoff is the pause before the next retry: 5 ms doubling to 1 s, as
// net/http's.
func acceptBackoff(previous time.Duration) time.Duration {
	if previous == 0 {
		return 5 * time.Millisecond
	}
	return min(2*previous, time.Second)
}
