// Package procs runs the services as their shipped binaries in child
// processes, for the tools and tests that need real processes: the
// benchmark (so that the load generator never shares a runtime with the
// services), the real-SPIRE test and the replica tests (which kill them).
package procs

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Build compiles each package (value) into its binary path (key).
func Build(binaries map[string]string) error {
	for out, pkg := range binaries {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build %s: %w", pkg, err)
		}
	}
	return nil
}

// Proc is one child process.
type Proc struct {
	name   string
	cmd    *exec.Cmd
	log    *os.File // its stderr: every log line, audit lines included, really written
	exited chan error
}

// Tail is the end of the process's log, for error messages.
func (p *Proc) Tail() string {
	data, _ := os.ReadFile(p.log.Name())
	if len(data) > 2000 {
		data = data[len(data)-2000:]
	}
	return string(bytes.TrimSpace(data))
}

// Start runs bin with env (on top of a minimal environment: the services
// must not pick up the caller's variables) and waits until every health URL
// answers 200. Its logs go to a file at the default level, as in production:
// the audit line of every internal call is formatted and written.
func Start(name, bin string, env map[string]string, health ...string) (*Proc, error) {
	return StartCommand(name, []string{bin}, env, &http.Client{Timeout: time.Second}, health...)
}

// StartCommand is Start for a command line (ip netns exec NS BINARY, say),
// whose health URLs are asked through client (one that dials into the
// process's network namespace).
func StartCommand(name string, argv []string, env map[string]string, client *http.Client, health ...string) (*Proc, error) {
	logFile, err := os.CreateTemp("", "jeeves-"+name+"-*.log")
	if err != nil {
		return nil, err
	}
	p := &Proc{name: name, cmd: exec.Command(argv[0], argv[1:]...), log: logFile, exited: make(chan error, 1)}
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
				return nil, fmt.Errorf("%s exited during start-up (%v): %s", name, err, p.Tail())
			case <-time.After(50 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				p.Stop()
				return nil, fmt.Errorf("%s: %s did not answer within 30s: %s", name, u, p.Tail())
			}
		}
	}
	return p, nil
}

// Stop sends SIGTERM (graceful shutdown) and waits, killing after 20s.
func (p *Proc) Stop() {
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

// StartOn is Start for a process whose addresses are chosen here: a port
// found free can be taken by another process before the child binds it, so
// a child that fails to start is started again on fresh ports (3 tries).
func StartOn(name, bin string, nAddrs int, setup func(addrs []string) (env map[string]string, health []string)) (*Proc, []string, error) {
	var lastErr error
	for try := 0; try < 3; try++ {
		addrs, err := FreeAddrs(nAddrs)
		if err != nil {
			return nil, nil, err
		}
		env, health := setup(addrs)
		p, err := Start(name, bin, env, health...)
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

// FreeAddr returns a loopback address nobody listens on, for a child process
// to bind a moment later (and again after a restart). The port is taken
// below the kernel's ephemeral range: a port the kernel picked (":0") comes
// from that range, and any outgoing connection of the machine (to
// PostgreSQL, Redis, a replica) could take it as its local port before the
// child binds it ("address already in use", seen in make cluster-test).
func FreeAddr() (string, error) {
	low := ephemeralLow()
	for try := 0; try < 50 && low > 10000; try++ {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 10000+rand.IntN(low-10000)))
		if err == nil {
			addr := ln.Addr().String()
			ln.Close()
			return addr, nil
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux;
// 32768, the usual start, where it cannot be read).
func ephemeralLow() int {
	var low, high int
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	if _, err := fmt.Sscan(string(data), &low, &high); err != nil || low <= 0 {
		return 32768
	}
	return low
}

// FreeAddrs returns n free loopback addresses.
func FreeAddrs(n int) ([]string, error) {
	out := make([]string, n)
	for i := range out {
		a, err := FreeAddr()
		if err != nil {
			return nil, err
		}
		out[i] = a
	}
	return out, nil
}

// StopAll stops every process, last started first.
func StopAll(ps []*Proc) {
	for i := len(ps) - 1; i >= 0; i-- {
		ps[i].Stop()
	}
}

// CPU is the CPU time (user + system) the process has used so far, from
// /proc (Linux); 0 where that cannot be read.
func (p *Proc) CPU() time.Duration {
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

// Kill ends the process at once (SIGKILL: no drain, no goodbye), as a crash would.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Lines returns the JSON log lines written so far whose msg equals msg.
func (p *Proc) Lines(msg string) []map[string]any {
	f, err := os.Open(p.log.Name())
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}
