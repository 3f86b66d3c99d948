package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The services under test run as their shipped binaries in child processes,
// so the load generator's goroutines, GC and scheduler (this process) never
// share a runtime with them. build compiles them, and the two baselines,
// once per run.
type binaries struct {
	user, property, limit, baseline string
}

func build(dir string) (binaries, error) {
	b := binaries{user: filepath.Join(dir, "user-service"), property: filepath.Join(dir, "property-service"),
		limit: filepath.Join(dir, "limit"), baseline: filepath.Join(dir, "baseline")}
	for out, pkg := range map[string]string{b.user: "./services/user/cmd/user-service",
		b.property: "./services/property/cmd/property-service", b.limit: "./tools/bench/limit", b.baseline: "./tools/bench/baseline"} {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return b, fmt.Errorf("build %s: %w", pkg, err)
		}
	}
	return b, nil
}

// proc is one child process.
type proc struct {
	name   string
	cmd    *exec.Cmd
	log    *os.File // its stderr: every log line, audit lines included, really written
	exited chan error
}

// tail is the end of the process's log, for error messages.
func (p *proc) tail() string {
	data, _ := os.ReadFile(p.log.Name())
	if len(data) > 2000 {
		data = data[len(data)-2000:]
	}
	return string(bytes.TrimSpace(data))
}

// start runs bin with env (on top of a minimal environment: the services
// must not pick up the caller's variables) and waits until every health URL
// answers 200. Its logs go to a file at the default level, as in production:
// the audit line of every internal call is formatted and written.
func start(name, bin string, env map[string]string, health ...string) (*proc, error) {
	logFile, err := os.CreateTemp("", "jeeves-bench-"+name+"-*.log")
	if err != nil {
		return nil, err
	}
	p := &proc{name: name, cmd: exec.Command(bin), log: logFile, exited: make(chan error, 1)}
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stderr = logFile
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	client := &http.Client{Timeout: time.Second}
	for _, u := range health {
		for {
			resp, err := client.Get(u)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			select {
			case err := <-p.exited:
				return nil, fmt.Errorf("%s exited during start-up (%v): %s", name, err, p.tail())
			case <-time.After(50 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				p.stop()
				return nil, fmt.Errorf("%s: %s did not answer within 30s: %s", name, u, p.tail())
			}
		}
	}
	return p, nil
}

// stop sends SIGTERM (graceful shutdown) and waits, killing after 20s.
func (p *proc) stop() {
	if p == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	_ = p.log.Close()
	_ = os.Remove(p.log.Name())
}

// startOn is start for a process whose addresses are chosen here: a port
// found free can be taken by another process before the child binds it, so
// a child that fails to start is started again on fresh ports (3 tries).
func startOn(name, bin string, nAddrs int, setup func(addrs []string) (env map[string]string, health []string)) (*proc, []string, error) {
	var lastErr error
	for try := 0; try < 3; try++ {
		addrs, err := freeAddrs(nAddrs)
		if err != nil {
			return nil, nil, err
		}
		env, health := setup(addrs)
		p, err := start(name, bin, env, health...)
		if err == nil {
			return p, addrs, nil
		}
		lastErr = err
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	return nil, nil, lastErr
}

// freeAddr returns a loopback address nobody listens on (the kernel picks
// the port; a child process binds it a moment later).
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// freeAddrs returns n free loopback addresses.
func freeAddrs(n int) ([]string, error) {
	out := make([]string, n)
	for i := range out {
		a, err := freeAddr()
		if err != nil {
			return nil, err
		}
		out[i] = a
	}
	return out, nil
}

// stopAll stops every process, last started first.
func stopAll(ps []*proc) {
	for i := len(ps) - 1; i >= 0; i-- {
		ps[i].stop()
	}
}

// cpu is the CPU time (user + system) the process has used so far, from
// /proc (Linux); 0 where that cannot be read.
func (p *proc) cpu() time.Duration {
	if p == nil {
		return 0
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces) start after ")".
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(fields) < 13 {
		return 0
	}
	var utime, stime int64
	fmt.Sscan(fields[11], &utime)
	fmt.Sscan(fields[12], &stime)
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times (100 on Linux).
const clockTicks = 100
