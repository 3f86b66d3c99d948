//go:build contract

// These tests need Stoplight Prism (npm, pinned in package.json); make contract
// installs it and runs them with PRISM_BIN set. They check the contract with a
// second validator, independent of kin-openapi.
package e2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/gen/internalapi"
	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/internalauth"
	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
	"github.com/jeeves4service/jeeves4service/services/common/upstream"
	"github.com/jeeves4service/jeeves4service/services/common/workload"
	"github.com/jeeves4service/jeeves4service/services/user/adapters"
)

func prismBin(t *testing.T) string {
	bin := os.Getenv("PRISM_BIN")
	if bin == "" {
		t.Fatal("PRISM_BIN is not set: run these tests with make contract")
	}
	return bin
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startPrism runs prism with args plus a port and returns its URL once it answers.
func startPrism(t *testing.T, args ...string) string {
	t.Helper()
	port := freePort(t)
	var out bytes.Buffer
	cmd := exec.Command(prismBin(t), append(args, "--host", "127.0.0.1", "-p", fmt.Sprint(port))...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
		if t.Failed() {
			t.Logf("prism %v output:\n%s", args, out.String())
		}
	})
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
			c.Close()
			return url
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("prism %v did not start:\n%s", args, out.String())
	return ""
}

// Consumer side: the user service's generated client speaks the contract to
// Prism's mock, which enforces the X-Internal-Token scheme.
func TestInternalClientAgainstPrismMock(t *testing.T) {
	mock := startPrism(t, "mock", "../openapi-internal.yaml", "--errors")
	log, _ := testenv.Logger()
	wl, err := workload.Open(context.Background(), workload.Config{Name: "user-service", Mode: workload.Tokens,
		Callees: []workload.Callee{{Name: adapters.PropertyService, URL: mock, Token: internalToken}}}, log)
	if err != nil {
		t.Fatal(err)
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	wl.SetSubjects(internalauth.Minter(jwtauth.NewSigner(key, nil, jwtauth.Settings{Issuer: "jeeves4service"}, time.Hour).Subjects(),
		internalauth.DefaultSubjectTTL))
	client, err := adapters.NewPropertyClient(wl, upstream.Settings{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := client.UserProperties(context.Background(), 1, 100) // the contract's example is user 1
	claims := got.Claims
	if err != nil || len(claims) != 1 || claims[0].AccessLevel != "owner" {
		t.Fatalf("client against the mock: %v %+v", err, claims)
	}
	// Without the workload's client there is no token, and the mock refuses.
	bare, err := internalapi.NewClientWithResponses(mock)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := bare.GetUserPropertiesWithResponse(context.Background(), 1, &internalapi.GetUserPropertiesParams{})
	if err != nil || resp.StatusCode() != http.StatusUnauthorized {
		t.Fatalf("tokenless call: %v %d", err, resp.StatusCode())
	}
}

// Provider side: the end-to-end story runs through prism proxy in front of
// every listener (the user service's calls to the internal listener too).
// With --errors a contract violation becomes a 500 that fails the test.
func TestEndToEndThroughPrismProxy(t *testing.T) {
	specs := map[string]string{
		"user":     "../openapi-public.yaml",
		"property": "../openapi-public.yaml",
		"internal": "../openapi-internal.yaml", "userInternal": "../openapi-internal.yaml",
	}
	for _, eng := range testenv.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			s := startSystemVia(t, eng, func(name, url string) string {
				return startPrism(t, "proxy", specs[name], url, "--errors")
			})
			tour(t, s)
			loginFlow(t, s)
		})
	}
}

// tour calls every public operation once with a valid request.
func tour(t *testing.T, s *system) {
	register(t, s, "tour-owner@example.com", "tour owner password")
	guest := register(t, s, "tour-guest@example.com", "tour guest password")
	sess, _ := login(t, s, "tour-owner@example.com", "tour owner password")
	auth := testenv.Bearer(sess.Token)
	must := func(status int, method, url string, body any) testenv.Response {
		t.Helper()
		r := testenv.Do(t, method, url, body, auth...)
		if r.Status != status {
			t.Fatalf("%s %s: %d, want %d: %s", method, url, r.Status, status, r.Body)
		}
		return r
	}
	must(200, "GET", s.user+"/api/users/me", nil)
	must(200, "GET", s.user+"/.well-known/jwks.json", nil)
	var p struct{ ID int64 }
	must(201, "POST", s.property+"/api/properties/", map[string]string{"name": "Tour house", "address": "1 Tour Road"}).JSON(t, &p)
	base := fmt.Sprintf("%s/api/property/%d", s.property, p.ID)
	must(200, "GET", s.property+"/api/properties/", nil)
	must(200, "GET", base, nil)
	must(200, "PATCH", base, map[string]string{"name": "Tour home"})
	must(201, "POST", base+"/rooms", map[string]string{"name": "Hall"})
	must(200, "GET", base+"/rooms", nil)
	var inv struct{ ID int64 }
	must(201, "POST", base+"/invitations", map[string]string{"email": "tour-guest@example.com", "access_level": "guest"}).JSON(t, &inv)
	must(200, "GET", base+"/invitations", nil)
	guestSess, _ := login(t, s, "tour-guest@example.com", "tour guest password")
	asGuest := func(status int, method, url string, body ...any) {
		t.Helper()
		var b any
		if len(body) > 0 {
			b = body[0]
		}
		if r := testenv.Do(t, method, url, b, testenv.Bearer(guestSess.Token)...); r.Status != status {
			t.Fatalf("%s %s: %d, want %d: %s", method, url, r.Status, status, r.Body)
		}
	}
	asGuest(200, "GET", s.property+"/api/invitations")
	asGuest(200, "POST", fmt.Sprintf("%s/api/invitations/%d/accept", s.property, inv.ID),
		map[string]string{"secret": s.mail.Secret(t, inv.ID)})
	must(201, "POST", base+"/invitations", map[string]string{"email": "tour-guest@example.com", "access_level": "member"}).JSON(t, &inv)
	asGuest(204, "DELETE", fmt.Sprintf("%s/api/invitations/%d", s.property, inv.ID))
	must(201, "POST", base+"/invitations", map[string]string{"email": "nobody@example.com", "access_level": "member"}).JSON(t, &inv)
	must(200, "POST", fmt.Sprintf("%s/invitations/%d/send", base, inv.ID), nil)
	must(204, "DELETE", fmt.Sprintf("%s/invitations/%d", base, inv.ID), nil)
	must(200, "PUT", fmt.Sprintf("%s/members/%d", base, guest), map[string]string{"access_level": "member"})
	must(200, "GET", base+"/members", nil)
	must(204, "DELETE", fmt.Sprintf("%s/members/%d", base, guest), nil)
	must(
		204,
		"POST",
		s.user+"/api/users/change-password",
		map[string]string{"current_password": "tour owner password", "new_password": "new tour owner password"},
	)
	must(204, "DELETE", base, nil)
}

// The proxy is only worth running if it catches a broken provider: a handler
// that drops a required field must come back as Prism's violation error.
func TestPrismProxyCatchesViolations(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":1,"address":"","access_level":"owner","created_at":"2026-11-28T12:00:00Z"}`)) // no "name"
	}))
	defer upstream.Close()
	proxy := startPrism(t, "proxy", "../openapi-public.yaml", upstream.URL, "--errors")
	r := testenv.DoUnchecked(t, "GET", proxy+"/api/property/1", nil, testenv.Bearer("x.y.z")...)
	if r.Status != 500 || !bytes.Contains(r.Body, []byte("VIOLATIONS")) {
		t.Fatalf("prism let a broken response through: %d %s", r.Status, r.Body)
	}
}
