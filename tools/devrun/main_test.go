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
