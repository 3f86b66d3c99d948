package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/jeeves4service/jeeves4service/internalauth"
	"github.com/jeeves4service/jeeves4service/internalauth/subject"
)

const (
	issuer           = "household-app-test-issuer"
	userServiceToken = "household-app-at-users-0123456789abcdef"
	householdsToken  = "household-app-at-households-0123456789ab"
)

// world is a stand-in user service (an exchange that answers a subject
// token for the user named by the access token "access-<id>", as the real
// one answers for the user of a verified access token) and the households
// contract behind the library's real guard, with a handler that echoes.
type world struct {
	env        map[string]string
	exchanges  atomic.Int32 // exchanges asked
	households atomic.Int32 // calls that reached the handler
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{}
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer := subject.NewSigner(key, subject.KeyID(pub), issuer)
	users := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/.well-known/jwks.json" {
			_ = json.NewEncoder(rw).Encode(subject.JWKS{Keys: []subject.JWK{subject.PublicJWK(pub)}})
			return
		}
		w.exchanges.Add(1)
		var req internalauth.ExchangeRequest
		if r.URL.Path != "/api/internal/users/subject-tokens" || r.Header.Get(internalauth.Header) != userServiceToken ||
			json.NewDecoder(r.Body).Decode(&req) != nil || !strings.HasPrefix(req.SubjectToken, "access-") {
			http.Error(rw, `{"error":"invalid_request"}`, http.StatusBadRequest)
			return
		}
		tok, _, err := signer.Sign(subject.Request{Subject: strings.TrimPrefix(req.SubjectToken, "access-"),
			Audience: req.Audience, Operation: req.Scope, AuthorizedParty: "household-app"}, time.Minute, time.Now())
		if err != nil {
			http.Error(rw, `{"error":"server_error"}`, http.StatusInternalServerError)
			return
		}
		_ = json.NewEncoder(rw).Encode(internalauth.ExchangeResponse{AccessToken: tok,
			IssuedTokenType: "urn:jeeves4service:token-type:subject", TokenType: "N_A", ExpiresIn: 60})
	}))
	t.Cleanup(users.Close)

	doc, err := openapi3.NewLoader().LoadFromFile("../../openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := internalauth.ParseTokens("household-app=" + householdsToken)
	if err != nil {
		t.Fatal(err)
	}
	guard, err := internalauth.New(doc, internalauth.WithName("households-service"), internalauth.WithTokens(tokens...),
		internalauth.WithSubjects(subject.NewVerifier(subject.NewRemoteKeys(users.URL+"/.well-known/jwks.json", time.Minute), issuer)))
	if err != nil {
		t.Fatal(err)
	}
	households := httptest.NewServer(guard.Handler(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.households.Add(1)
		call, _ := internalauth.CallFrom(r.Context())
		_, _ = rw.Write([]byte(`{"user_id":` + call.Subject + `,"members":[]}`))
	})))
	t.Cleanup(households.Close)

	w.env = map[string]string{"USER_SERVICE_URL": users.URL, "USER_SERVICE_TOKEN": userServiceToken,
		"HOUSEHOLDS_URL": households.URL, "HOUSEHOLDS_TOKEN": householdsToken}
	return w
}

func (w *world) run(user, access string) (string, error) {
	env := func(k string) string {
		if k == "ACCESS_TOKEN" {
			return access
		}
		return w.env[k]
	}
	var out bytes.Buffer
	err := run(context.Background(), []string{user}, env, &out)
	return out.String(), err
}

func TestHouseholdAppExchangesThenCalls(t *testing.T) {
	w := newWorld(t)
	out, err := w.run("7", "access-7")
	if err != nil || out != `{"user_id":7,"members":[]}` {
		t.Fatalf("household-app 7: %q, %v", out, err)
	}
	if w.exchanges.Load() != 1 || w.households.Load() != 1 {
		t.Fatalf("%d exchanges, %d calls; want 1 and 1", w.exchanges.Load(), w.households.Load())
	}
}

// What the client refuses to send: a call for user 7 made with user 8's
// access token (the exchange answers a token for 8), a call without an
// access token, a call without its credential.
func TestHouseholdAppSendsNoCallItCannotMakeForTheUser(t *testing.T) {
	w := newWorld(t)
	if out, err := w.run("7", "access-8"); err == nil || !strings.Contains(err.Error(), "another subject") {
		t.Errorf("household-app 7 with user 8's access token: %q, %v; want the other subject refused", out, err)
	}
	if out, err := w.run("7", ""); err == nil || !strings.Contains(err.Error(), "no access token") {
		t.Errorf("household-app 7 without an access token: %q, %v; want a refusal", out, err)
	}
	w.env["HOUSEHOLDS_TOKEN"] = ""
	if out, err := w.run("7", "access-7"); err == nil || !strings.Contains(err.Error(), "no static token") {
		t.Errorf("household-app 7 without its token: %q, %v; want a refusal", out, err)
	}
	if n := w.households.Load(); n != 0 {
		t.Fatalf("%d calls reached the households service, want none", n)
	}
	if err := run(context.Background(), nil, func(string) string { return "" }, &bytes.Buffer{}); err == nil ||
		!strings.Contains(err.Error(), "usage") {
		t.Fatalf("household-app without a user id: %v, want its usage", err)
	}
}
