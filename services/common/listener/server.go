// Package listener runs a service's listeners together: each bound at start
// (a port clash fails start-up), served with timeouts, watched so that one
// that stops accepting makes the service unready instead of dying quietly,
// optionally TLS or TLS and plain HTTP on one port, and drained on shutdown.
package listener

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/jeeves4service/jeeves4service/services/common/problem"

	"golang.org/x/sync/errgroup"
)

// ShutdownTimeout bounds how long in-flight requests may take after SIGTERM.
const ShutdownTimeout = 15 * time.Second

// Draining: when a service is told to stop, it first closes its listeners
// (a new connection is refused at once; a load balancer's health check
// fails and it sends elsewhere), then keeps serving the connections it has,
// closing each after its next response (Connection: close), so that no client
// sends a request on a keep-alive connection at the moment the server closes
// it as idle (the race that resets such a request). Once no request has
// arrived for DrainQuiet, or after DrainMax, the rest shut down.
//
// Behind a load balancer that alone has a race: a connection the kernel
// accepted into the listen queue just before the listener closes is reset,
// and the request sent on it fails. ShutdownDelay (SHUTDOWN_DELAY, set by
// package lifecycle; 0 by default) keeps the listeners open that long
// first, answering /readyz 503, so that the balancer's health check takes
// the replica out of rotation before anything is refused.
var (
	DrainQuiet    = 100 * time.Millisecond
	DrainMax      = 2 * time.Second
	ShutdownDelay time.Duration
)

// Listener is one named HTTP listener of a service.
type Listener struct {
	Name    string
	Addr    string
	Handler http.Handler
	// TLS, when set, makes the listener speak TLS with this configuration
	// (the internal listener in spiffe mode: mutual TLS with X.509-SVIDs).
	TLS *tls.Config
	// AlsoPlain, with TLS, serves plain HTTP on the same port as well, told
	// apart by the first byte (see tlsOrPlain).
	AlsoPlain bool

	ln    net.Listener
	watch *watchedListener
}

// WithAdmin returns listeners plus an "admin" listener on addr serving admin,
// or listeners alone when addr is "".
func WithAdmin(addr string, admin http.Handler, listeners ...*Listener) []*Listener {
	if addr == "" {
		return listeners
	}
	return append(listeners, &Listener{Name: "admin", Addr: addr, Handler: admin})
}

// Server runs a service's listeners together.
type Server struct {
	log       *slog.Logger
	listeners []*Listener
	draining  atomic.Bool
	last      atomic.Int64 // unix nanoseconds of the latest request's arrival
}

// Handler is what the listener called name serves, as it serves it (nil when
// there is no such listener), to serve it in-process, without a socket.
func (s *Server) Handler(name string) http.Handler {
	for _, l := range s.listeners {
		if l.Name == name {
			return s.drainable(l.Handler)
		}
	}
	return nil
}

// drainable wraps a listener's handler for the drain (see DrainQuiet).
func (s *Server) drainable(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			s.last.Store(time.Now().UnixNano())
			w.Header().Set("Connection", "close")
			if r.URL.Path == "/readyz" {
				problem.Write(w, r, problem.New(http.StatusServiceUnavailable, "The service is shutting down."))
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// drain closes the listeners and waits until no request has arrived on the
// open connections for DrainQuiet, at most DrainMax.
func (s *Server) drain() {
	s.last.Store(time.Now().UnixNano())
	s.draining.Store(true)
	if ShutdownDelay > 0 {
		s.log.Info("shutting down: /readyz answers 503", "delay", ShutdownDelay.String())
		time.Sleep(ShutdownDelay)
		s.last.Store(time.Now().UnixNano())
	}
	s.closeAll()
	deadline := time.Now().Add(DrainMax)
	for time.Now().Before(deadline) {
		quiet := time.Since(time.Unix(0, s.last.Load()))
		if quiet >= DrainQuiet {
			return
		}
		time.Sleep(DrainQuiet - quiet)
	}
}

// Listen binds every address now, so a port clash fails start-up and tests can
// read the real port of "127.0.0.1:0" before serving.
func Listen(log *slog.Logger, listeners ...*Listener) (*Server, error) {
	s := &Server{log: log}
	for _, l := range listeners {
		ln, err := net.Listen("tcp", l.Addr)
		if err != nil {
			s.closeAll()
			return nil, fmt.Errorf("listen %s on %s: %w", l.Name, l.Addr, err)
		}
		l.Addr = ln.Addr().String()
		l.watch = &watchedListener{Listener: ln, name: l.Name, log: log}
		ln = l.watch
		switch {
		case l.TLS != nil && l.AlsoPlain:
			ln = newTLSOrPlain(ln, l.TLS)
		case l.TLS != nil:
			ln = tls.NewListener(ln, l.TLS)
		}
		l.ln = ln
		s.listeners = append(s.listeners, l)
	}
	return s, nil
}

// Accepting is nil when every listener accepts connections, and otherwise
// says which cannot (NotAcceptingError): part of /readyz, because a listener
// whose accepts fail serves none of its new callers however well the rest
// of the service does. It is nil on a nil Server (one not yet bound).
func (s *Server) Accepting() error {
	if s == nil {
		return nil
	}
	now := time.Now()
	var errs []error
	for _, l := range s.listeners {
		if err := l.watch.accepting(now); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Server) closeAll() {
	for _, l := range s.listeners {
		_ = l.ln.Close()
	}
}

// Addr returns the bound address of the named listener.
func (s *Server) Addr(name string) string {
	for _, l := range s.listeners {
		if l.Name == name {
			return l.Addr
		}
	}
	return ""
}

// Serve serves until ctx is cancelled, then drains (see DrainQuiet) and waits
// up to ShutdownTimeout for in-flight requests to finish.
func (s *Server) Serve(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	servers := make([]*http.Server, len(s.listeners))
	for i, l := range s.listeners {
		srv := &http.Server{
			Handler:           s.drainable(l.Handler),
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       15 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       120 * time.Second,
			MaxHeaderBytes:    32 << 10,
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		}
		servers[i] = srv
		s.log.Info("listening", "listener", l.Name, "addr", l.Addr)
		g.Go(func() error {
			if err := srv.Serve(l.ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !s.draining.Load() {
				return fmt.Errorf("serve %s: %w", l.Name, err)
			}
			return nil
		})
	}
	g.Go(func() error {
		<-gctx.Done()
		s.drain()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
		defer cancel()
		var errs []error
		for _, srv := range servers {
			if err := srv.Shutdown(shutdownCtx); err != nil {
				errs = append(errs, err)
			}
		}
		s.log.Info("stopped")
		return errors.Join(errs...)
	})
	return g.Wait()
}
