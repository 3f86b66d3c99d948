// Command devrun is `make run`: it starts bin/user-service and
// bin/property-service on their default addresses with SQLite under ./data and a
// fresh random internal token that only these two processes know, prints how to
// try them, and stops both on Ctrl-C.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "make run:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return fmt.Errorf("generate internal token: %w", err)
	}
	// The token goes to the children's environment only: never printed, never on disk.
	env := append(os.Environ(), "INTERNAL_SERVICE_TOKEN="+base64.RawURLEncoding.EncodeToString(raw[:]))
	if os.Getenv("LOG_FORMAT") == "" {
		env = append(env, "LOG_FORMAT=text")
	}
	if err := os.MkdirAll("data", 0o700); err != nil {
		return fmt.Errorf("create ./data: %w", err)
	}
	var procs []*exec.Cmd
	for _, bin := range []string{"bin/property-service", "bin/user-service"} {
		cmd := exec.Command(bin)
		cmd.Env, cmd.Stdout, cmd.Stderr = env, os.Stdout, os.Stderr
		if err := cmd.Start(); err != nil {
			stopAll(procs)
			return fmt.Errorf("start %s: %w", bin, err)
		}
		procs = append(procs, cmd)
	}
	exited := make(chan error, len(procs))
	for _, p := range procs {
		go func() { exited <- p.Wait() }()
	}
	user, property := envOr("USER_PUBLIC_ADDR", "127.0.0.1:8001"), envOr("PROPERTY_PUBLIC_ADDR", "127.0.0.1:8002")
	if err := waitHealthy(ctx, exited, "http://"+user+"/healthz", "http://"+property+"/healthz"); err != nil {
		stopAll(procs)
		return err
	}
	fmt.Printf(`
jeeves4service is running (SQLite under ./data). Ctrl-C stops both services.

  user service      http://%[1]s      (JWKS: http://%[1]s/.well-known/jwks.json)
  property service  http://%[2]s      (internal listener: http://%[3]s, token-guarded)

Try it:
  curl -s -X POST http://%[1]s/api/users/register -H 'Content-Type: application/json' \
       -d '{"email":"ada@example.com","password":"correct horse battery staple","first_name":"Ada","last_name":"Lovelace"}'
  SESSION=$(curl -s -X POST http://%[1]s/api/users/authenticate -H 'Content-Type: application/json' \
       -d '{"email":"ada@example.com","password":"correct horse battery staple"}')
  TOKEN=$(echo "$SESSION" | sed 's/.*"token":"\([^"]*\)".*/\1/')
  REFRESH=$(echo "$SESSION" | sed 's/.*"refresh_token":"\([^"]*\)".*/\1/')
  curl -s -X POST http://%[2]s/api/properties/ -H "Authorization: Bearer $TOKEN" \
       -H 'Content-Type: application/json' -d '{"name":"Seaside cottage"}'
  # the access token lives 10 minutes; refresh for the next pair (its claims list the cottage now):
  curl -s -X POST http://%[1]s/api/users/refresh -H 'Content-Type: application/json' -d "{\"refresh_token\":\"$REFRESH\"}"
  # that refresh token is spent: presenting it again ends the whole session (401)
  curl -s -X POST http://%[1]s/api/users/refresh -H 'Content-Type: application/json' -d "{\"refresh_token\":\"$REFRESH\"}"
  curl -s http://%[3]s/api/internal/properties/users/1     # 401: no X-Internal-Token

`, user, property, envOr("PROPERTY_INTERNAL_ADDR", "127.0.0.1:9002"))
	select {
	case <-ctx.Done():
	case err := <-exited:
		stopAll(procs)
		return fmt.Errorf("a service exited: %v", err)
	}
	stopAll(procs)
	fmt.Println("\nstopped both services")
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func waitHealthy(ctx context.Context, exited <-chan error, urls ...string) error {
	deadline := time.Now().Add(30 * time.Second)
	for _, u := range urls {
		for {
			resp, err := http.Get(u)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			select {
			case err := <-exited:
				return fmt.Errorf("a service exited during start-up: %v", err)
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s did not answer within 30s", u)
			}
		}
	}
	return nil
}

// stopAll sends SIGTERM (graceful shutdown) and waits up to 20s before killing.
func stopAll(procs []*exec.Cmd) {
	for _, p := range procs {
		_ = p.Process.Signal(syscall.SIGTERM)
	}
	done := make(chan struct{})
	go func() {
		for _, p := range procs {
			for p.ProcessState == nil {
				time.Sleep(50 * time.Millisecond)
			}
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		for _, p := range procs {
			_ = p.Process.Kill()
		}
	}
}
