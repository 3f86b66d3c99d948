// Package contract checks HTTP traffic against the two OpenAPI contracts. Tests
// send every request through a Checker (testenv.Do does), so any response a
// handler gives that the contract does not allow (an undeclared status, a wrong
// field, a missing header, the wrong content type) fails the test that caused
// it, naming the operation and the mismatch. It also records which
// (operation, status) pairs the tests exercised, for the coverage check.
package contract

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/jeeves4service/jeeves4service"
)

// Spec is one loaded contract and its router.
type Spec struct {
	Name   string
	Doc    *openapi3.T
	router routers.Router
}

// Load parses a contract; servers are cleared so that any loopback port matches.
func Load(name string, data []byte) (*Spec, error) {
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("load %s contract: %w", name, err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("validate %s contract: %w", name, err)
	}
	doc.Servers = nil
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route %s contract: %w", name, err)
	}
	return &Spec{Name: name, Doc: doc, router: r}, nil
}

var (
	loadOnce         sync.Once
	public, internal *Spec
	errLoad          error
)

// Specs returns the project's public and internal contracts.
func Specs() (*Spec, *Spec, error) {
	loadOnce.Do(func() {
		if public, errLoad = Load("public", jeeves4service.PublicSpec); errLoad != nil {
			return
		}
		internal, errLoad = Load("internal", jeeves4service.InternalSpec)
	})
	return public, internal, errLoad
}

// Mismatch is a response the contract does not allow.
type Mismatch struct {
	Spec, Operation, Method, Path string
	Status                        int
	Problem                       string
}

func (m *Mismatch) Error() string {
	return fmt.Sprintf("contract %s, operation %s (%s %s): response %d breaks the contract: %s",
		m.Spec, m.Operation, m.Method, m.Path, m.Status, m.Problem)
}

// credentialsPresent checks that the request carries what a scheme asks for;
// whether the credential is valid is the service's business, not the contract's.
func credentialsPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	s := in.SecurityScheme
	r := in.RequestValidationInput.Request
	switch {
	case s.Type == "apiKey" && s.In == "header":
		if r.Header.Get(s.Name) == "" {
			return errors.New("missing " + s.Name)
		}
	case s.Type == "http" && strings.EqualFold(s.Scheme, "bearer"):
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			return errors.New("missing bearer token")
		}
	}
	return nil
}

// Exchange is one request and its response as the checker saw them.
type Exchange struct {
	Spec      string
	Operation string
	Status    int
	// RequestValid is false when the contract forbids the request itself.
	RequestValid bool
}

// Check validates one exchange. req's body must be readable again (reqBody);
// it returns the exchange (Operation is "" when no operation of either spec
// matches, e.g. /healthz) and a *Mismatch when the response breaks the contract.
func Check(req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) (Exchange, error) {
	pub, in, err := Specs()
	if err != nil {
		return Exchange{}, err
	}
	spec := pub
	if strings.HasPrefix(req.URL.Path, "/api/internal/") {
		spec = in
	}
	route, params, err := spec.router.FindRoute(req)
	if err != nil {
		return Exchange{}, nil // not an operation of the contract: nothing to check
	}
	ex := Exchange{Spec: spec.Name, Operation: route.Operation.OperationID, Status: resp.StatusCode}
	reqCopy := req.Clone(req.Context())
	reqCopy.Body = io.NopCloser(bytes.NewReader(reqBody))
	reqInput := &openapi3filter.RequestValidationInput{Request: reqCopy, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: credentialsPresent}}
	ex.RequestValid = openapi3filter.ValidateRequest(req.Context(), reqInput) == nil

	mismatch := func(format string, args ...any) error {
		return &Mismatch{Spec: spec.Name, Operation: ex.Operation, Method: req.Method, Path: req.URL.Path,
			Status: resp.StatusCode, Problem: fmt.Sprintf(format, args...)}
	}
	if resp.StatusCode == http.StatusInternalServerError {
		return ex, mismatch("a 500 answer: the service failed (tests provoke no internal failures)")
	}
	if !ex.RequestValid && (resp.StatusCode < 400 || resp.StatusCode >= 500) {
		return ex, mismatch("the contract forbids this request, but it was answered %d instead of a 4xx", resp.StatusCode)
	}
	err = openapi3filter.ValidateResponse(req.Context(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: reqInput, Status: resp.StatusCode, Header: resp.Header,
		Body:    io.NopCloser(bytes.NewReader(respBody)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: false},
	})
	if err != nil {
		return ex, mismatch("%s", firstLine(err.Error()))
	}
	return ex, nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// Record appends the exchange to $CONTRACT_COVERAGE_DIR/<pid>.txt when that is
// set (make test sets it; each test binary writes its own file).
func Record(ex Exchange) error {
	dir := os.Getenv("CONTRACT_COVERAGE_DIR")
	if dir == "" || ex.Operation == "" {
		return nil
	}
	recordMu.Lock()
	defer recordMu.Unlock()
	f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("%d.txt", os.Getpid())), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("record contract coverage: %w", err)
	}
	defer f.Close()
	_, err = fmt.Fprintf(f, "%s %s %d\n", ex.Spec, ex.Operation, ex.Status)
	return err
}

var recordMu sync.Mutex
