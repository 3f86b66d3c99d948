package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// childNofile carries a child service process's descriptor limit (and marks
// the test binary as that child).
const childNofile = "TESTENV_CHILD_NOFILE"

// RunChild is called first in a test package's TestMain. In the test binary
// re-executed by StartChild it lowers RLIMIT_NOFILE as asked, runs main (the
// service's Main with this process's environment and stderr, as its command
// runs it) until SIGTERM and exits with its status; in every other run it
// returns at once.
func RunChild(main func(ctx context.Context) int) {
	v := os.Getenv(childNofile)
	if v == "" {
		return
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s=%q: %v\n", childNofile, v, err)
		os.Exit(1)
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		fmt.Fprintf(os.Stderr, "getrlimit: %v\n", err)
		os.Exit(1)
	}
	lim.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		fmt.Fprintf(os.Stderr, "setrlimit: %v\n", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	code := main(ctx)
	stop()
	os.Exit(code)
}

// Child is a service running in a child process (see StartChild).
type Child struct {
	Log *LogBuffer
	// Addrs are the bound addresses by listener name, from its "listening" lines.
	Addrs map[string]string
}

// StartChild runs the test binary again as a service process (its TestMain
// calls RunChild) whose soft RLIMIT_NOFILE is nofile, with env added to this
// process's environment, and waits until it has logged the addresses of
// listeners. At cleanup it gets SIGTERM (then SIGKILL after 20 s); if the
// test failed, the end of its log is logged.
func StartChild(t testing.TB, nofile int, env []string, listeners ...string) *Child {
	t.Helper()
	c := &Child{Log: &LogBuffer{}, Addrs: map[string]string{}}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(cmd.Environ(), append(env, fmt.Sprintf("%s=%d", childNofile, nofile), "LOG_FLUSH_INTERVAL=0")...)
	cmd.Stdout, cmd.Stderr = c.Log, c.Log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the child service: %v", err)
	}
	exited := make(chan struct{})
	var exitErr error
	go func() { exitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("child service output:\n%s", Tail(c.Log.String()))
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, l := range c.Log.Lines("listening") {
			name, _ := l["listener"].(string)
			addr, _ := l["addr"].(string)
			c.Addrs[name] = addr
		}
		missing := ""
		for _, name := range listeners {
			if c.Addrs[name] == "" {
				missing = name
			}
		}
		if missing == "" {
			return c
		}
		select {
		case <-exited:
			t.Fatalf("the child service exited before listening on %s: %v\n%s", missing, exitErr, Tail(c.Log.String()))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the child service is not listening on %s after 30 s\n%s", missing, Tail(c.Log.String()))
		}
	}
}

// Flood opens n TCP connections to addr and holds them, idle, until the
// returned release is called (at the latest at cleanup): more than a child's
// descriptor limit, they leave it none for its next accept on any listener.
// Connections beyond the limit wait in the kernel's listen queue.
func Flood(t testing.TB, addr string, n int) (release func()) {
	t.Helper()
	var held []net.Conn
	release = func() {
		for _, c := range held {
			_ = c.Close()
		}
		held = nil
	}
	t.Cleanup(release)
	for range n {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			release()
			t.Fatalf("flood %s: %v", addr, err)
		}
		held = append(held, c)
	}
	return release
}

// Eventually retries check every 100 ms until it succeeds or within has
// passed, and returns its last error.
func Eventually(within time.Duration, check func() error) error {
	deadline := time.Now().Add(within)
	for {
		err := check()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
