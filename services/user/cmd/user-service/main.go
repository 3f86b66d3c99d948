// Command user-service registers and logs in users and issues JWTs carrying
// their property claims. `user-service create-admin --email E` creates an admin
// (password on stdin).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/jeeves4service/jeeves4service/services/user"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := user.Main(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
