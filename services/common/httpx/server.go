package httpx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"
)

// ShutdownTimeout bounds how long in-flight requests may take after SIGTERM.
const ShutdownTimeout = 15 * time.Second

// Listener is one named HTTP listener of a service.
type Listener struct {
	Name    string
	Addr    string
	Handler http.Handler

	ln net.Listener
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
		l.ln = ln
		l.Addr = ln.Addr().String()
		s.listeners = append(s.listeners, l)
	}
	return s, nil
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

// Serve serves until ctx is cancelled, then stops accepting connections and
// waits up to ShutdownTimeout for in-flight requests to finish.
func (s *Server) Serve(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	servers := make([]*http.Server, len(s.listeners))
	for i, l := range s.listeners {
		srv := &http.Server{
			Handler:           l.Handler,
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
			if err := srv.Serve(l.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serve %s: %w", l.Name, err)
			}
			return nil
		})
	}
	g.Go(func() error {
		<-gctx.Done()
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
