// Command property-service serves properties, rooms and members publicly and
// the user's property claims on a separate, token-guarded internal listener.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/jeeves4service/jeeves4service/services/property"
)

func main() {
	if code, done := property.Args(os.Args[1:], os.Stdout, os.Stderr); done {
		os.Exit(code)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := property.Main(ctx, os.Getenv, os.Stderr)
	stop()
	os.Exit(code)
}
