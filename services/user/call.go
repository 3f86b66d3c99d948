package user

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/jeeves4service/jeeves4service/internalauth"
	"github.com/jeeves4service/jeeves4service/services/common/config"
	"github.com/jeeves4service/jeeves4service/services/common/middleware"
	"github.com/jeeves4service/jeeves4service/services/common/reqinfo"
	"github.com/jeeves4service/jeeves4service/services/common/workload"
	"github.com/jeeves4service/jeeves4service/services/user/adapters"
	"github.com/jeeves4service/jeeves4service/services/user/app"
)

// callCommand: user-service call properties --user-id N. It makes the
// internal call a login makes, by hand, with the service's own
// configuration, identity (the static token, or its X.509-SVID and a
// JWT-SVID) and signing key (the subject token for user N), and prints the
// answer and the request id: the property service's audit line for the
// call carries the same request_id. Whoever can run it holds the user
// service's secrets anyway.
func callCommand(ctx context.Context, args []string, getenv config.Getenv, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "properties" {
		if len(args) == 1 && isHelp(args[0]) {
			fmt.Fprintln(stdout, "usage: user-service call properties --user-id N [--limit N]")
			return 0
		}
		fmt.Fprintln(stderr, "call: usage: user-service call properties --user-id N [--limit N]")
		return 2
	}
	fs := flag.NewFlagSet("call properties", flag.ContinueOnError)
	fs.SetOutput(stderr)
	userID := fs.Int64("user-id", 0, "the user whose properties to ask for (required)")
	limit := fs.Int("limit", 0, "at most this many claims (0: the property service's default)")
	if code, ok := parseFlags(fs, args[1:]); !ok {
		return code
	}
	if *userID <= 0 || *limit < 0 {
		fmt.Fprintln(stderr, "call properties: --user-id must be a positive user id, --limit not negative")
		return 2
	}
	claims, requestID, code := callProperties(ctx, getenv, *userID, *limit, stderr)
	if requestID != "" { // "": the call was never made (configuration, identity)
		fmt.Fprintf(stdout, "request_id: %s\n", requestID)
	}
	if code != 0 {
		return code
	}
	answer, err := json.MarshalIndent(struct {
		Properties any `json:"properties"`
		TotalCount int `json:"total_count"`
	}{claims.Claims, claims.Total}, "", "  ")
	if err != nil {
		fmt.Fprintf(stderr, "call properties: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s\n", answer)
	return 0
}

// callProperties opens the workload and its property client, as the service
// does at start, and asks once.
func callProperties(ctx context.Context, getenv config.Getenv, userID int64, limit int,
	stderr io.Writer) (app.PropertyClaims, string, int) {
	cfg, log, code := commandConfig("call properties", getenv, stderr)
	if code != 0 {
		return app.PropertyClaims{}, "", code
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workload, err := workload.Open(ctx, cfg.Internal, log)
	if err != nil {
		fmt.Fprintf(stderr, "call properties: %v\n", err)
		return app.PropertyClaims{}, "", 1
	}
	go workload.Run(ctx)
	// The call is made for the user, as a login's is: the subject token is
	// minted with the service's own signing key.
	signer, err := loadSigner(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "call properties: %v\n", err)
		return app.PropertyClaims{}, "", config.ExitCode
	}
	workload.SetSubjects(internalauth.Minter(signer.Subjects(), internalauth.DefaultSubjectTTL))
	client, err := adapters.NewPropertyClient(workload, cfg.PropertyCalls, nil)
	if err != nil {
		fmt.Fprintf(stderr, "call properties: %v\n", err)
		return app.PropertyClaims{}, "", 1
	}
	ctx, info := reqinfo.New(ctx)
	info.RequestID = middleware.NewID()
	claims, err := client.UserProperties(ctx, userID, limit)
	if err != nil {
		fmt.Fprintf(stderr, "call properties: %v\n", err)
		return app.PropertyClaims{}, info.RequestID, 1
	}
	return claims, info.RequestID, 0
}
