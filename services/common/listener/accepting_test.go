package listener

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
)

// flaky is a listener whose first accepts fail with errs, in order.
type flaky struct {
	net.Listener
	mu   sync.Mutex
	errs []error
}

func (f *flaky) Accept() (net.Conn, error) {
	f.mu.Lock()
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		f.mu.Unlock()
		return nil, err
	}
	f.mu.Unlock()
	return f.Listener.Accept()
}

var errEMFILE = &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}

func flakyListener(t *testing.T, errs ...error) (*watchedListener, *testenv.LogBuffer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	log, logs := testenv.Logger()
	return &watchedListener{Listener: &flaky{Listener: ln, errs: errs}, name: "internal", log: log}, logs
}

// The first-byte sniffer retries an accept that failed for want of a file
// descriptor, and serves the next connection; it used to keep the first
// such error and return it from every Accept after.
func TestSnifferRetriesTemporaryAcceptErrors(t *testing.T) {
	watched, logs := flakyListener(t, errEMFILE, errEMFILE, errEMFILE)
	l := newTLSOrPlain(watched, nil)
	t.Cleanup(func() { _ = l.Close() })
	c, err := net.Dial("tcp", watched.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("G")); err != nil {
		t.Fatal(err)
	}
	accepted := make(chan error, 1)
	go func() {
		conn, err := l.Accept()
		if err == nil {
			_ = conn.Close()
		}
		accepted <- err
	}()
	select {
	case err := <-accepted:
		if err != nil {
			t.Fatalf("Accept after three EMFILEs: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no connection accepted after three EMFILEs")
	}
	if errs := logs.Lines("listener cannot accept connections"); len(errs) != 1 || errs[0]["level"] != "ERROR" ||
		errs[0]["listener"] != "internal" {
		t.Fatalf("want one ERROR line for the run of failures, got %v", errs)
	}
	if again := logs.Lines("listener accepting again"); len(again) != 1 || again[0]["accept_errors"] != float64(3) {
		t.Fatalf("want one line when accepting again, after 3 errors: %v", again)
	}
	if err := watched.accepting(time.Now()); err != nil {
		t.Fatalf("accepting after the recovery: %v", err)
	}
}

// An error that is not temporary (the socket itself is gone) ends the
// sniffer, and http.Server.Serve with it: the service stops rather than
// serving nothing.
func TestSnifferGivesUpOnPermanentAcceptErrors(t *testing.T) {
	boom := errors.New("socket gone")
	watched, _ := flakyListener(t, boom)
	l := newTLSOrPlain(watched, nil)
	t.Cleanup(func() { _ = l.Close() })
	if _, err := l.Accept(); !errors.Is(err, boom) {
		t.Fatalf("Accept: %v, want %v", err, boom)
	}
}

// A listener whose accepts fail is not accepting until one succeeds, or
// until no error has come for acceptErrorWindow (nothing was waiting to be
// accepted); a closed listener is not a failing one.
func TestWatchedListenerReportsFailingAccepts(t *testing.T) {
	watched, logs := flakyListener(t, errEMFILE)
	if _, err := watched.Accept(); err == nil {
		t.Fatal("the flaky accept succeeded")
	}
	now := time.Now()
	var notAccepting *NotAcceptingError
	if err := watched.accepting(now); !errors.As(err, &notAccepting) || notAccepting.Listener != "internal" ||
		!errors.Is(err, syscall.EMFILE) {
		t.Fatalf("right after EMFILE: %v", err)
	}
	if err := watched.accepting(now.Add(acceptErrorWindow / 2)); err == nil {
		t.Fatal("within the window: accepting")
	}
	if err := watched.accepting(now.Add(acceptErrorWindow + time.Second)); err != nil {
		t.Fatalf("a window after the last error: %v", err)
	}
	s := &Server{log: slog.Default(), listeners: []*Listener{{Name: "internal", watch: watched}}}
	if err := s.Accepting(); err == nil {
		t.Fatal("Server.Accepting with a failing listener: nil")
	}
	_ = watched.Close()
	if _, err := watched.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept on a closed listener: %v", err)
	}
	if n := len(logs.Lines("listener cannot accept connections")); n != 1 {
		t.Fatalf("closing logged as a failure: %d ERROR lines", n)
	}
	var nilServer *Server
	if err := nilServer.Accepting(); err != nil {
		t.Fatalf("a server not yet bound: %v", err)
	}
}
