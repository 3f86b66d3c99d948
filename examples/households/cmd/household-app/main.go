// Command household-app <user_id> prints the household of the signed-in user
// whose access token is ACCESS_TOKEN. It holds one static token per callee:
// USER_SERVICE_TOKEN for the exchange at USER_SERVICE_URL (the user service's
// internal listener), HOUSEHOLDS_TOKEN for HOUSEHOLDS_URL.
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/jeeves4service/jeeves4service/internalauth"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "household-app:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: household-app <user_id>")
	}
	// The exchange is a call made for nobody, with this app's token for the user service; its
	// body carries the user's access token (UserTokens: never over plain HTTP off loopback).
	exchange := &http.Client{Timeout: 10 * time.Second, CheckRedirect: internalauth.RefuseRedirect, Transport: &internalauth.Transport{UserTokens: true,
		Credential: internalauth.StaticToken(getenv("USER_SERVICE_TOKEN"))}} // no subject: Audience and Caller unused
	cache := &internalauth.SubjectCache{Margin: 5 * time.Second, MaxEntries: 1000,
		Exchange: internalauth.ExchangeOver(exchange, getenv("USER_SERVICE_URL")+"/api/internal/users/subject-tokens")}
	// Every request made with a subject's context carries a subject token for it.
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: internalauth.RefuseRedirect, Transport: &internalauth.Transport{
		Credential: internalauth.StaticToken(getenv("HOUSEHOLDS_TOKEN")), Subjects: cache.Source(),
		Audience: "households-service", Caller: "household-app"}}
	ctx = internalauth.ForSubject(ctx, internalauth.Subject{User: args[0], Operation: "getHousehold", Evidence: getenv("ACCESS_TOKEN")})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, getenv("HOUSEHOLDS_URL")+"/api/internal/households/users/"+args[0], nil)
	if err != nil {
		return fmt.Errorf("the request: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("getHousehold: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %s", resp.Status, body)
	}
	if err != nil {
		return fmt.Errorf("getHousehold: %w", err)
	}
	_, err = out.Write(body)
	return err
}
