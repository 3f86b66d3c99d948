package user

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/jeeves4service/jeeves4service/internalauth/identity"
	"github.com/jeeves4service/jeeves4service/services/common/config"
	"github.com/jeeves4service/jeeves4service/services/common/logging"
	"github.com/jeeves4service/jeeves4service/services/user/app"
)

// command runs an admin command (user-service COMMAND ...) and returns its
// exit status: 2 for a usage or configuration error.
func command(ctx context.Context, args []string, getenv config.Getenv, stdin io.Reader, stdout, stderr io.Writer) int {
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case "create-admin":
		return createAdmin(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "deactivate":
		return deactivate(ctx, args[1:], getenv, stdout, stderr)
	case "identity":
		return identityCommand(args[1:], stdout, stderr)
	case "call":
		return callCommand(ctx, args[1:], getenv, stdout, stderr)
	}
	fmt.Fprintf(stderr, "user-service: unknown command %q\n%s", args[0], usage)
	return 2
}

// usage is what --help prints: a newcomer's first question of a binary.
const usage = `usage: user-service               serve: the public, internal and admin listeners, configured by
                                   environment variables (docs/operations.md lists every one)
       user-service create-admin --email E [--first-name F] [--last-name L]
                                   an admin account; the password is read from stdin
       user-service deactivate --email E | --id N
                                   the user can no longer sign in; every session of theirs ends
       user-service identity init --trust-domain TD --dir DIR [--lifetime 24h]
                                   a dev trust domain: a CA and both services' SPIFFE identities
       user-service call properties --user-id N [--limit N]
                                   the internal call a login makes, by hand, with this service's credential
       user-service --help         this text; COMMAND --help lists a command's flags
`

// parseFlags parses a command's flags. -h or --help prints them and is not
// an error (status 0); a bad flag is a usage error (status 2). ok is false
// when the command must stop with code.
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0, false
	case err != nil:
		return 2, false
	}
	return 0, true
}

// isHelp reports whether arg asks for help, as --help does.
func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

// deactivate: user-service deactivate --email E (or --id N). The user can
// no longer log in, and every session of theirs ends (refresh tokens at once;
// access tokens at once at the user service, within JWT_TTL at the property
// service). --email finds the account by the canonical form of E; --id is
// for an account the start-up reported by id (its stored email has no
// canonical form of its own, so no email finds it).
func deactivate(ctx context.Context, args []string, getenv config.Getenv, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("deactivate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	email := fs.String("email", "", "email of the user")
	id := fs.Int64("id", 0, "id of the user (instead of --email)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if (*email == "") == (*id == 0) {
		fmt.Fprintln(stderr, "deactivate: one of --email and --id is required")
		return 2
	}
	svc, closeApp, code := commandApp(ctx, "deactivate", getenv, stderr)
	if svc == nil {
		return code
	}
	defer closeApp()
	var u app.UserRecord
	var err error
	if *id != 0 {
		u, err = svc.Repo.ByID(ctx, *id)
	} else {
		var canonical string
		if canonical, err = app.CanonicalEmail(*email); err == nil {
			u, err = svc.Repo.ByEmail(ctx, canonical)
		}
	}
	if err == nil {
		err = svc.Deactivate(ctx, u.ID)
	}
	if err != nil {
		fmt.Fprintf(stderr, "deactivate: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "deactivated %s (id %d); their sessions have ended\n", u.Email, u.ID)
	return 0
}

// identityCommand: user-service identity init --trust-domain TD --dir DIR
// [--lifetime D]. It makes a dev trust domain (a throwaway CA whose key is
// never written) and DIR/user-service/, DIR/property-service/, each a
// complete SPIFFE_DIR. It needs no configuration: it touches no database.
func identityCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "init" {
		if len(args) == 1 && isHelp(args[0]) {
			fmt.Fprintln(stdout, "usage: user-service identity init --trust-domain TD --dir DIR [--lifetime 24h]")
			return 0
		}
		fmt.Fprintln(stderr, "identity: usage: user-service identity init --trust-domain TD --dir DIR [--lifetime 24h]")
		return 2
	}
	fs := flag.NewFlagSet("identity init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	td := fs.String("trust-domain", "", "trust domain, such as example.org (required)")
	dir := fs.String("dir", "", "directory to write the services' identities into (required)")
	lifetime := fs.Duration("lifetime", identity.DefaultSVIDLifetime, "how long the X.509-SVIDs are valid")
	if code, ok := parseFlags(fs, args[1:]); !ok {
		return code
	}
	if *td == "" || *dir == "" || *lifetime <= 0 {
		fmt.Fprintln(stderr, "identity init: --trust-domain and --dir are required, --lifetime must be positive")
		return 2
	}
	services := []string{"user-service", "property-service"}
	if err := identity.Init(*td, *dir, services, *lifetime); err != nil {
		fmt.Fprintf(stderr, "identity init: %v\n", err)
		return 1
	}
	for _, svc := range services {
		fmt.Fprintf(stdout, "spiffe://%s/%s: SPIFFE_DIR=%s\n", *td, svc, filepath.Join(*dir, svc))
	}
	return 0
}

// commandConfig reads the service's logger and configuration for the
// command called name; on failure it prints why and returns the exit status.
func commandConfig(name string, getenv config.Getenv, stderr io.Writer) (Config, *slog.Logger, int) {
	log, err := logging.New(getenv, stderr, "user-service")
	if err != nil {
		fmt.Fprintf(stderr, "%s: configuration error: %v\n", name, err)
		return Config{}, nil, config.ExitCode
	}
	cfg, err := LoadConfig(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "%s: configuration error: %v\n", name, err)
		return Config{}, nil, config.ExitCode
	}
	return cfg, log, 0
}

// commandApp reads the service's configuration and opens its use cases for
// an admin command; on failure it prints why and returns the exit status.
func commandApp(ctx context.Context, name string, getenv config.Getenv, stderr io.Writer) (*app.Service, func(), int) {
	cfg, log, code := commandConfig(name, getenv, stderr)
	if code != 0 {
		return nil, nil, code
	}
	svc, conn, _, err := openApp(ctx, cfg, nil, log)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return nil, nil, 1
	}
	return svc, func() { conn.Close() }, 0
}

// createAdmin: user-service create-admin --email E --first-name F --last-name L,
// password on stdin (never on the command line, where ps and shell history see it).
func createAdmin(ctx context.Context, args []string, getenv config.Getenv, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("create-admin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	email := fs.String("email", "", "email of the admin (required)")
	first := fs.String("first-name", "Admin", "first name")
	last := fs.String("last-name", "User", "last name")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *email == "" {
		fmt.Fprintln(stderr, "create-admin: --email is required; the password is read from stdin")
		return 2
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 1024)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintf(stderr, "create-admin: read password from stdin: %v\n", err)
		return 1
	}
	password := strings.TrimRight(line, "\r\n")
	svc, closeApp, code := commandApp(ctx, "create-admin", getenv, stderr)
	if svc == nil {
		return code
	}
	defer closeApp()
	u, err := svc.Register(ctx, "", *email, password, *first, *last, true)
	if err != nil {
		fmt.Fprintf(stderr, "create-admin: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "created admin %s with id %d\n", u.Email, u.ID)
	return 0
}
