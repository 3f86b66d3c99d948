package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A port held by something that accepts connections and never answers used
// to hang make run in its health probe. Now it stops at once, non-zero,
// naming the port, and starts nothing.
func TestTakenPortStopsMakeRunAndNamesIt(t *testing.T) {
	holder, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	go func() {
		for {
			c, err := holder.Accept()
			if err != nil {
				return
			}
			defer c.Close() // accept, never answer
		}
	}()
	// Stand-in binaries: a service that exits with a bind error, as the real one would.
	bin := t.TempDir()
	started := filepath.Join(t.TempDir(), "started")
	script := "#!/bin/sh\ntouch " + started + "\necho 'listen public: address already in use' >&2\nexit 1\n"
	for _, name := range []string{"user-service", "property-service"} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	vars := map[string]string{"USER_PUBLIC_ADDR": holder.Addr().String(), "INTERNAL_AUTH": "token"}
	for _, a := range addresses {
		if vars[a.name] == "" {
			vars[a.name] = "127.0.0.1:0"
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out bytes.Buffer
	err = run(ctx, bin, func(k string) string { return vars[k] }, &out, &out)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("make run did not stop by itself: %v", err)
	}
	if !strings.Contains(err.Error(), holder.Addr().String()) || !strings.Contains(err.Error(), "USER_PUBLIC_ADDR") {
		t.Fatalf("error does not name the port: %v", err)
	}
	if _, err := os.Stat(started); err == nil {
		t.Fatal("a service was started although a port was taken")
	}
}

// Issue 34: make run needs no mail server: without SMTP_URL its property
// service writes each invitation's mail to its log (MAIL_TO_LOG=on), and the
// banner says so; with SMTP_URL set it sets nothing and the mail is real.
func TestMakeRunMailsToTheLogOnlyWithoutSMTP(t *testing.T) {
	env := func(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }
	line, extra := mail(env(nil))
	if len(extra) != 1 || extra[0] != "MAIL_TO_LOG=on" || !strings.Contains(line, "printed in the property service's log") {
		t.Fatalf("without SMTP_URL: %q %v", line, extra)
	}
	line, extra = mail(env(map[string]string{"SMTP_URL": "smtp://mail.example.com"}))
	if len(extra) != 0 || !strings.Contains(line, "mailed through SMTP_URL") {
		t.Fatalf("with SMTP_URL: %q %v", line, extra)
	}
}
