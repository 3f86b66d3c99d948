package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/internal/testkit/contract"
)

// Response is what a test request got back.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test on error.
func (r Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// Problem decodes an application/problem+json body, failing when the content type is wrong.
func (r Response) Problem(t testing.TB) map[string]any {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("content type %q, want application/problem+json (body %s)", ct, r.Body)
	}
	var p map[string]any
	r.JSON(t, &p)
	return p
}

// Client is the HTTP client tests use.
var Client = &http.Client{Timeout: 10 * time.Second}

// Do sends a request and checks the exchange against the contracts (package
// contract): a response the contract does not allow fails the test, naming the
// operation and the mismatch. body may be nil, a string (sent as is) or any
// value (sent as JSON). headers are name, value pairs. Do may only be called
// from the test's goroutine; goroutines a test starts use Try.
func Do(t testing.TB, method, url string, body any, headers ...string) Response {
	t.Helper()
	return must(t)(send(true, method, url, body, headers...))
}

// TryWith is Try through client (a mutual-TLS client, say): the exchange is
// still checked against the contracts; an error is what the client met.
func TryWith(client *http.Client, method, url string, body any, headers ...string) (Response, error) {
	return sendWith(client, true, method, url, body, headers...)
}

// DoWith is Do through client (one that dials into a network namespace, say).
func DoWith(t testing.TB, client *http.Client, method, url string, body any, headers ...string) Response {
	t.Helper()
	return must(t)(TryWith(client, method, url, body, headers...))
}

// Try is Do for goroutines a test starts: it returns what Do would fail the
// test with, for the test's own goroutine to report (t.Fatal from another
// goroutine does not stop the test, and can leave it hanging).
func Try(method, url string, body any, headers ...string) (Response, error) {
	return send(true, method, url, body, headers...)
}

// DoUnchecked is Do without the contract check, for the few probes that
// deliberately send a contract's path to the listener that must not serve it.
func DoUnchecked(t testing.TB, method, url string, body any, headers ...string) Response {
	t.Helper()
	return must(t)(send(false, method, url, body, headers...))
}

// must fails the test on an error: must(t)(send(...)).
func must(t testing.TB) func(Response, error) Response {
	return func(r Response, err error) Response {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
}

func send(check bool, method, url string, body any, headers ...string) (Response, error) {
	return sendWith(Client, check, method, url, body, headers...)
}

func sendWith(client *http.Client, check bool, method, url string, body any, headers ...string) (Response, error) {
	var rd io.Reader
	var sent []byte
	switch b := body.(type) {
	case nil:
	case string:
		sent = []byte(b)
	case []byte:
		sent = b
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return Response{}, fmt.Errorf("encode request body: %w", err)
		}
		sent = data
	}
	if body != nil {
		rd = bytes.NewReader(sent)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return Response{}, fmt.Errorf("%s %s: %w", method, url, err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return Response{}, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, fmt.Errorf("%s %s: read body: %w", method, url, err)
	}
	if check {
		ex, err := contract.Check(req, sent, resp, data)
		if err != nil {
			return Response{}, fmt.Errorf("%w\nresponse body: %s", err, data)
		}
		if err := contract.Record(ex); err != nil {
			return Response{}, err
		}
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: data}, nil
}

// Errors collects failures from goroutines for the test goroutine to report.
type Errors struct {
	mu   sync.Mutex
	errs []error
}

// Add records err if it is not nil.
func (e *Errors) Add(err error) {
	if err == nil {
		return
	}
	e.mu.Lock()
	e.errs = append(e.errs, err)
	e.mu.Unlock()
}

// Check fails the test with the first few errors recorded; call it from the
// test's goroutine once the others are done.
func (e *Errors) Check(t testing.TB) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, err := range e.errs {
		if i == 3 {
			t.Errorf("... and %d more", len(e.errs)-3)
			break
		}
		t.Error(err)
	}
	if len(e.errs) > 0 {
		t.FailNow()
	}
}

// Bearer is the header pair for a JWT.
func Bearer(token string) []string { return []string{"Authorization", "Bearer " + token} }
