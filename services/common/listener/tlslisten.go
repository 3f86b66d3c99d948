package listener

import (
	"bufio"
	"crypto/tls"
	"net"
	"sync"
	"time"
)

// sniffTimeout bounds how long a new connection may take to send its first
// byte before it is dropped (it holds a goroutine, never the accept loop).
const sniffTimeout = 5 * time.Second

// tlsOrPlain is a listener that serves TLS and plain HTTP on one port
// (internal-call mode token+spiffe: SPIFFE callers over mutual TLS and token callers
// as before, during a migration). Every TLS connection opens with a
// handshake record, whose first byte is 0x16; no HTTP request starts with
// it. Each accepted connection is classified on its own goroutine, so a
// client that sends nothing delays nobody, and handed to the HTTP server as
// a *tls.Conn (which the server handshakes and reports in Request.TLS) or as
// it is.
type tlsOrPlain struct {
	net.Listener
	config *tls.Config
	conns  chan net.Conn
	done   chan struct{}
	once   sync.Once
	err    error
}

func newTLSOrPlain(inner net.Listener, config *tls.Config) *tlsOrPlain {
	l := &tlsOrPlain{Listener: inner, config: config, conns: make(chan net.Conn), done: make(chan struct{})}
	go l.acceptLoop()
	return l
}

// acceptLoop accepts until the listener is closed or fails for good. A
// temporary error (no file descriptor left) is retried with back-off, as
// net/http's Server.Serve does, never kept: a listener that gave up on the
// first EMFILE would stay dead after the descriptors came back. The
// watchedListener underneath reports the failure meanwhile.
func (l *tlsOrPlain) acceptLoop() {
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if !retryableAccept(err) {
				l.once.Do(func() { l.err = err; close(l.done) })
				return
			}
			delay = acceptBackoff(delay)
			select {
			case <-time.After(delay):
			case <-l.done:
				return
			}
			continue
		}
		delay = 0
		go l.classify(c)
	}
}

func (l *tlsOrPlain) classify(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(sniffTimeout))
	br := bufio.NewReaderSize(c, 512)
	first, err := br.Peek(1)
	_ = c.SetReadDeadline(time.Time{})
	if err != nil {
		_ = c.Close()
		return
	}
	var out net.Conn = &peekedConn{Conn: c, r: br}
	if first[0] == 0x16 {
		out = tls.Server(out, l.config)
	}
	select {
	case l.conns <- out:
	case <-l.done:
		_ = c.Close()
	}
}

// Accept returns the next classified connection.
func (l *tlsOrPlain) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, l.err
	}
}

// Close stops accepting; connections being classified are closed.
func (l *tlsOrPlain) Close() error {
	l.once.Do(func() { l.err = net.ErrClosed; close(l.done) })
	return l.Listener.Close()
}

// peekedConn is a connection whose first bytes were read into r.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
