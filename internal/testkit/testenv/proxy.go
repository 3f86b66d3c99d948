package testenv

import (
	"io"
	"net"
	"sync"
	"testing"

	"github.com/jeeves4service/jeeves4service/internal/testkit/notrun"
)

// Proxy is a TCP proxy a test can cut and restore, to take a dependency
// (PostgreSQL) away from a service without stopping the shared server.
type Proxy struct {
	t      testing.TB
	addr   string
	target string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
}

// NewProxy listens on a loopback port and forwards every connection to target.
func NewProxy(t testing.TB, target string) *Proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{t: t, addr: ln.Addr().String(), target: target, conns: map[net.Conn]bool{}}
	p.serve(ln)
	t.Cleanup(p.Cut)
	return p
}

// Retarget sends the connections accepted from now on to target: a service
// can be configured with the proxy's address before the one it reaches has
// a port (the property service's JWKS URL, before the user service binds).
func (p *Proxy) Retarget(target string) {
	p.mu.Lock()
	p.target = target
	p.mu.Unlock()
}

// Addr is host:port clients should dial.
func (p *Proxy) Addr() string { return p.addr }

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			target := p.target
			p.mu.Unlock()
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[up] = true, true
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close(); c.Close() }()
			go func() { _, _ = io.Copy(c, up); up.Close(); c.Close() }()
		}
	}()
}

// Cut closes the listener and every open connection: new dials are refused.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

// Restore listens again on the same address.
func (p *Proxy) Restore() {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("restore proxy on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

// PostgresURL returns TEST_POSTGRES_URL's admin URL for PostgreSQL-only tests:
// skipped locally with one line when unset, failed when CI=true.
func PostgresURL(t testing.TB) string {
	t.Helper()
	for _, e := range Engines(t) {
		if e.Name == "postgres" {
			return e.NewURL(t)
		}
	}
	notrun.Skip(t, notrun.Postgres)
	return ""
}
