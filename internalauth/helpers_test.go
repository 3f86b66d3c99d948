package internalauth

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/jeeves4service/jeeves4service/internalauth/subject"
)

// The library's tests use nothing of the project but the library: the
// contract is built here, inline, in the shape every internal contract has
// (two apiKey schemes, one security requirement naming both, and on every
// operation x-allowed-callers and x-on-behalf-of).

var (
	alpha = strings.Repeat("a", 32) // the static token of the caller "alpha"
	beta  = strings.Repeat("b", 40) // the static token of the caller "beta"
)

// self is the callee's caller name: the audience of the subject tokens of
// calls made to it with a static token.
const self = "user-service"

const schemes = `
components:
  securitySchemes:
    InternalToken: {type: apiKey, in: header, name: X-Internal-Token}
    SubjectToken: {type: apiKey, in: header, name: X-Subject-Token}
`

// contractYAML: getUser is made for the user its path names and only alpha
// may call it; batch is made for nobody (only InternalToken) and both may.
const contractYAML = `openapi: 3.0.3
info: {title: test, version: "1"}
security:
  - {InternalToken: [], SubjectToken: []}
paths:
  /users/{user_id}:
    get:
      operationId: getUser
      parameters:
        - {name: user_id, in: path, required: true, schema: {type: string}}
      x-allowed-callers: [alpha]
      x-on-behalf-of: {parameter: user_id}
      responses: {"200": {description: ok}}
  /batch:
    post:
      operationId: batch
      security:
        - {InternalToken: []}
      x-allowed-callers: [alpha, beta]
      x-on-behalf-of: {none: a nightly job made for no user}
      responses: {"200": {description: ok}}
` + schemes

// loadContract loads an OpenAPI document from YAML, failing the test when it
// is not one.
func loadContract(t testing.TB, yaml string) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData([]byte(yaml))
	if err != nil {
		t.Fatalf("contract: %v", err)
	}
	return doc
}

// keys is a subject.KeySource holding one public key.
type keys struct {
	kid string
	pub ed25519.PublicKey
}

func (k keys) Key(_ context.Context, kid string) (ed25519.PublicKey, error) {
	if kid != k.kid {
		return nil, subject.ErrUnknownKey
	}
	return k.pub, nil
}

func (k keys) Has(kid string) bool { return kid == k.kid }

// tokenService is the signer of subject tokens (issuer "users") and its
// verifier.
type tokenService struct {
	key      ed25519.PrivateKey
	signer   *subject.Signer
	verifier *subject.Verifier
}

func newTokenService(t testing.TB) tokenService {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kid := subject.KeyID(pub)
	return tokenService{key: key, signer: subject.NewSigner(key, kid, "users"),
		verifier: subject.NewVerifier(keys{kid: kid, pub: pub}, "users")}
}

// sign mints a subject token for user, for operation at self, for caller.
func (ts tokenService) sign(t testing.TB, user, operation, caller string) string {
	t.Helper()
	tok, _, err := ts.signer.Sign(subject.Request{Subject: user, Audience: self, Operation: operation,
		AuthorizedParty: caller}, 30*time.Second, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func tokens(t testing.TB) []Token {
	t.Helper()
	a, err := NewToken("alpha", alpha)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewToken("beta", beta)
	if err != nil {
		t.Fatal(err)
	}
	return []Token{a, b}
}

// quiet is a logger that drops every line.
func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// refusal is one call of the Refused hook.
type refusal struct {
	status int
	reason string
}

// served is an internal listener: the guard over the contract in front of a
// handler that answers 200 with the caller and subject the guard let
// through. refusals records the Refused hook.
type served struct {
	url      string
	refusals chan refusal
}

// serve starts a real listener with a guard built from contractYAML, the
// two tokens, the token service's verifier and opts.
func serve(t testing.TB, ts tokenService, opts ...Option) served {
	t.Helper()
	s := served{refusals: make(chan refusal, 1000)}
	base := []Option{WithName(self), WithTokens(tokens(t)...), WithSubjects(ts.verifier), WithLogger(quiet()),
		WithHooks(Hooks{Refused: func(_ *http.Request, status int, reason string, _ Call) {
			s.refusals <- refusal{status, reason}
		}})}
	g, err := New(loadContract(t, contractYAML), append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := CallFrom(r.Context())
		if !ok {
			http.Error(w, "no call from the guard", http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, c.Caller+" for "+c.Subject)
	})))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

// call makes one request with the given credential and subject token
// ("" : header not sent), returning the status, the body and the headers.
func call(t testing.TB, method, url, credential, subjectToken string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if credential != "" {
		req.Header.Set(Header, credential)
	}
	if subjectToken != "" {
		req.Header.Set(SubjectHeader, subjectToken)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body), resp.Header
}

// lastRefusal is the latest refusal the hook was told of ("" when none).
func (s served) lastRefusal() refusal {
	var last refusal
	for {
		select {
		case r := <-s.refusals:
			last = r
		default:
			return last
		}
	}
}
