// Command devrun is `make run`: it starts bin/user-service and
// bin/property-service on their default addresses with SQLite under ./data,
// in INTERNAL_AUTH=spiffe mode with a fresh dev trust domain under
// ./data/identity (or, with INTERNAL_AUTH=token, a fresh random token only
// these two processes know), prints the mode and how to try them, and stops
// both on Ctrl-C. A port already taken stops it at once, naming the port.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// `kill -INT` on the make process reaches make, not this one: make
	// exits and leaves it behind. Whoever started it going away stops it
	// (and the services with it), as Ctrl-C on the terminal does.
	go stopWhenOrphaned(stop)
	fresh := flag.Bool("fresh", false, "remove ./data (the SQLite databases, the signing key, the dev trust domain) first: "+
		"start on empty databases (make run-fresh)")
	flag.Parse()
	if err := run(ctx, "bin", *fresh, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "make run:", err)
		os.Exit(1)
	}
}

// addresses are the listeners make run's services bind, by variable.
var addresses = []struct{ name, def string }{
	{"USER_PUBLIC_ADDR", "127.0.0.1:8001"}, {"USER_INTERNAL_ADDR", "127.0.0.1:9001"}, {"USER_ADMIN_ADDR", "127.0.0.1:9101"},
	{"PROPERTY_PUBLIC_ADDR", "127.0.0.1:8002"}, {"PROPERTY_INTERNAL_ADDR", "127.0.0.1:9002"},
	{"PROPERTY_ADMIN_ADDR", "127.0.0.1:9102"},
}

func run(ctx context.Context, bin string, fresh bool, getenv func(string) string, stdout, stderr io.Writer) error {
	envOr := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	// A port someone else holds is found before anything starts: the
	// service would exit with a bind error, and a probe of the port would
	// ask whatever holds it instead.
	for _, a := range addresses {
		if err := free(envOr(a.name, a.def)); err != nil {
			return fmt.Errorf("%s %s is already in use (%v): stop what holds it or set %s", a.name, envOr(a.name, a.def), err, a.name)
		}
	}
	// A second make run starts on the first one's databases: its accounts
	// and properties are there (the banner's register answers 409). Fresh
	// starts empty; otherwise the banner says whose data this is.
	if fresh {
		if err := os.RemoveAll("data"); err != nil {
			return fmt.Errorf("remove ./data for a fresh start: %w", err)
		}
	}
	dataNote, err := earlierData()
	if err != nil {
		return err
	}
	if err := os.MkdirAll("data", 0o700); err != nil {
		return fmt.Errorf("create ./data: %w", err)
	}
	env := os.Environ()
	if getenv("LOG_FORMAT") == "" {
		env = append(env, "LOG_FORMAT=text")
	}
	if getenv("PPROF") == "" {
		env = append(env, "PPROF=on") // a developer's machine: the profiler on the loopback admin listeners
	}
	mailLine, mailEnv := mail(getenv)
	env = append(env, mailEnv...)
	mode := envOr("INTERNAL_AUTH", "spiffe")
	modeLine, extra, err := internalAuth(ctx, bin, mode, envOr)
	if err != nil {
		return err
	}
	env = append(env, extra...)
	var procs []*exec.Cmd
	for _, name := range []string{"property-service", "user-service"} {
		cmd := exec.Command(filepath.Join(bin, name))
		cmd.Env, cmd.Stdout, cmd.Stderr = env, stdout, stderr
		cmd.SysProcAttr = stopWithParent()
		if err := cmd.Start(); err != nil {
			stopAll(procs)
			return fmt.Errorf("start %s: %w", name, err)
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
	internal := envOr("PROPERTY_INTERNAL_ADDR", "127.0.0.1:9002")
	fmt.Fprintf(stdout, `
jeeves4service is running (SQLite under ./data%[5]s). Ctrl-C stops both services.
Internal calls: %[4]s
Mail: %[9]s

  user service      http://%[1]s      (JWKS: http://%[1]s/.well-known/jwks.json)
  user service      internal listener: %[6]s (the property service calls it for names)
  property service  http://%[2]s      (internal listener: %[3]s)

Try it:
%[7]s
  %[8]s

`, user, property, internal, modeLine, dataNote, envOr("USER_INTERNAL_ADDR", "127.0.0.1:9001"),
		walkthrough(user, property, envOr("USER_INTERNAL_ADDR", "127.0.0.1:9001")), internalProbe(mode, internal), mailLine)
	select {
	case <-ctx.Done():
	case err := <-exited:
		stopAll(procs)
		return fmt.Errorf("a service exited: %v", err)
	}
	stopAll(procs)
	fmt.Fprintln(stdout, "\nstopped both services")
	return nil
}

// earlierData is the banner's note when ./data holds an earlier run's
// databases, naming the way to start empty.
func earlierData() (string, error) {
	for _, db := range []string{"user.db", "property.db"} {
		_, err := os.Stat(filepath.Join("data", db))
		if err == nil {
			return ", kept from an earlier run: make run-fresh starts on empty databases", nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("look for an earlier run's data: %w", err)
		}
	}
	return "", nil
}

// internalProbe is the banner's look at the property service's internal listener
// from outside. curl's -S shows the refused handshake's error, which -s
// alone would hide (the line printed nothing).
func internalProbe(mode, internal string) string {
	if mode == "token" {
		return fmt.Sprintf("curl -sS http://%s/api/internal/properties/users/1     # 401: no X-Internal-Token", internal)
	}
	return fmt.Sprintf(`curl -sSk https://%[1]s/api/internal/properties/users/1     # refused: no client certificate (curl: (56) ...)
  curl -sSk --cert data/identity/user-service/svid.pem --key data/identity/user-service/svid_key.pem \
       https://%[1]s/api/internal/properties/users/1     # 401: a certificate without a JWT-SVID
  INTERNAL_AUTH=spiffe bin/user-service call properties --user-id 1   # 200: the call a login makes, by hand;
                                                  # its request_id is in the property service's audit line`, internal)
}

// walkthrough is the banner's "Try it", a shell script: each id it uses
// (the property, the invitation) is the one its own requests created, in
// $ID and $INVITATION, so it holds on a database that already has some.
func walkthrough(user, property, userInternal string) string {
	return fmt.Sprintf(`  curl -s -X POST http://%[1]s/api/users/register -H 'Content-Type: application/json' \
       -d '{"email":"ada@example.com","password":"correct horse battery staple","first_name":"Ada","last_name":"Lovelace"}'
  SESSION=$(curl -s -X POST http://%[1]s/api/users/authenticate -H 'Content-Type: application/json' \
       -d '{"email":"ada@example.com","password":"correct horse battery staple"}')
  TOKEN=$(echo "$SESSION" | sed 's/.*"token":"\([^"]*\)".*/\1/')
  REFRESH=$(echo "$SESSION" | sed 's/.*"refresh_token":"\([^"]*\)".*/\1/')
  ID=$(curl -s -X POST http://%[2]s/api/properties/ -H "Authorization: Bearer $TOKEN" \
       -H 'Content-Type: application/json' -d '{"name":"Seaside cottage"}' | sed 's/.*"id":\([0-9]*\).*/\1/'); echo "property $ID"
  # the access token lives 10 minutes; refresh for the next pair (its claims list the cottage now):
  curl -s -X POST http://%[1]s/api/users/refresh -H 'Content-Type: application/json' -d "{\"refresh_token\":\"$REFRESH\"}"
  # that refresh token is spent: presenting it again ends the whole session (401)
  curl -s -X POST http://%[1]s/api/users/refresh -H 'Content-Type: application/json' -d "{\"refresh_token\":\"$REFRESH\"}"
  # share it by email: invite Grace (before or after she registers); she signs in, sees it, accepts
  INVITATION=$(curl -s -X POST http://%[2]s/api/property/$ID/invitations -H "Authorization: Bearer $TOKEN" \
       -H 'Content-Type: application/json' -d '{"email":"grace@example.com","access_level":"member"}' \
       | sed 's/.*"id":\([0-9]*\).*/\1/'); echo "invitation $INVITATION"
  curl -s -X POST http://%[1]s/api/users/register -H 'Content-Type: application/json' \
       -d '{"email":"grace@example.com","password":"another long passphrase","first_name":"Grace","last_name":"Hopper"}'
  GRACE=$(curl -s -X POST http://%[1]s/api/users/authenticate -H 'Content-Type: application/json' \
       -d '{"email":"grace@example.com","password":"another long passphrase"}' | sed 's/.*"token":"\([^"]*\)".*/\1/')
  curl -s http://%[2]s/api/invitations -H "Authorization: Bearer $GRACE"
  # accepting takes the invitation's mailed secret as well as Grace's sign-in: without SMTP_URL, the
  # invitation_secret= of this log's line "invitation mail (MAIL_TO_LOG=on...)"; with it, the link in her mail
  SECRET=${SECRET:-paste-the-secret-here}
  curl -s -X POST http://%[2]s/api/invitations/$INVITATION/accept -H "Authorization: Bearer $GRACE" \
       -H 'Content-Type: application/json' -d "{\"secret\":\"$SECRET\"}"
  # Grace signs in again: the user service sees her in the cottage at a sign-in, and shows a name only then
  curl -s -X POST http://%[1]s/api/users/authenticate -H 'Content-Type: application/json' \
       -d '{"email":"grace@example.com","password":"another long passphrase"}' > /dev/null
  # the member list, by name (the property service asks the user service's internal listener, %[3]s)
  curl -s http://%[2]s/api/property/$ID/members -H "Authorization: Bearer $TOKEN"`, user, property, userInternal)
}

// internalAuth prepares the mode's credentials: for spiffe (the default) a
// fresh dev trust domain under ./data/identity, made by the user service's
// own `identity init`; for token a random token that only the two child
// processes know (never printed, never on disk).
func internalAuth(ctx context.Context, bin, mode string, envOr func(name, def string) string) (string, []string, error) {
	switch mode {
	case "spiffe":
		dir := filepath.Join("data", "identity")
		if err := os.RemoveAll(dir); err != nil {
			return "", nil, fmt.Errorf("remove the last dev trust domain: %w", err)
		}
		initCmd := exec.CommandContext(ctx, filepath.Join(bin, "user-service"), "identity", "init",
			"--trust-domain", envOr("SPIFFE_TRUST_DOMAIN", "jeeves4service.local"), "--dir", dir)
		if out, err := initCmd.CombinedOutput(); err != nil {
			return "", nil, fmt.Errorf("identity init: %v: %s", err, out)
		}
		return "INTERNAL_AUTH=spiffe (mutual TLS with X.509-SVIDs and 5-minute JWT-SVIDs, from a fresh dev trust domain in " +
				"./data/identity; no static secret)",
			[]string{"INTERNAL_AUTH=spiffe", "PROPERTY_SERVICE_URL=https://" + envOr("PROPERTY_INTERNAL_ADDR", "127.0.0.1:9002"),
				"USER_SERVICE_INTERNAL_URL=https://" + envOr("USER_INTERNAL_ADDR", "127.0.0.1:9001")}, nil
	case "token":
		// One token per direction: the user service's for the property
		// service, the property service's for the user service.
		var raw [2][32]byte
		for i := range raw {
			if _, err := rand.Read(raw[i][:]); err != nil {
				return "", nil, fmt.Errorf("generate internal token: %w", err)
			}
		}
		return "INTERNAL_AUTH=token (a random X-Internal-Token per direction that only these two processes know)",
			[]string{"INTERNAL_AUTH=token", "INTERNAL_SERVICE_TOKEN=" + base64.RawURLEncoding.EncodeToString(raw[0][:]),
				"PROPERTY_SERVICE_TOKEN=" + base64.RawURLEncoding.EncodeToString(raw[1][:]),
				"USER_SERVICE_INTERNAL_URL=http://" + envOr("USER_INTERNAL_ADDR", "127.0.0.1:9001")}, nil
	}
	return "", nil, fmt.Errorf("INTERNAL_AUTH=%s: make run runs spiffe (default) or token", mode)
}

// mail is how make run's property service mails invitations: through
// SMTP_URL when it is set (SMTP_FROM and INVITATION_URL with it, or the
// service refuses to start, naming them), otherwise into its log
// (MAIL_TO_LOG=on, which only make run sets: the log then holds every
// invitation's secret). It returns the banner's line and the environment.
func mail(getenv func(string) string) (string, []string) {
	if getenv("SMTP_URL") != "" {
		return "invitations are mailed through SMTP_URL (from SMTP_FROM, links to INVITATION_URL)", nil
	}
	if getenv("MAIL_TO_LOG") != "" {
		return "MAIL_TO_LOG=" + getenv("MAIL_TO_LOG") + " as set, and no SMTP_URL", nil
	}
	return "no mail server (SMTP_URL unset): each invitation's mail, its secret included, is printed in the property " +
		"service's log below (MAIL_TO_LOG=on); set SMTP_URL, SMTP_FROM and INVITATION_URL to send real mail", []string{"MAIL_TO_LOG=on"}
}

// free reports whether addr can be bound now.
func free(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return ln.Close()
}

// probe asks for /healthz with a deadline of its own: a listener that
// accepts and never answers must not hold make run forever.
var probe = &http.Client{Timeout: time.Second}

func waitHealthy(ctx context.Context, exited <-chan error, urls ...string) error {
	deadline := time.Now().Add(30 * time.Second)
	for _, u := range urls {
		for {
			resp, err := probe.Get(u)
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

// stopWhenOrphaned calls stop once this process's parent has gone.
func stopWhenOrphaned(stop func()) {
	parent := os.Getppid()
	for range time.Tick(500 * time.Millisecond) {
		if os.Getppid() != parent {
			stop()
			return
		}
	}
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
