package workload

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/internalauth"
)

// alpha is the static token this service presents to its callees (the
// shortest a token may be).
var alpha = strings.Repeat("a", MinTokenLength)

// A client whose calls carry users' access tokens sends none over plain
// HTTP off loopback, even at a base URL given after the configuration was
// checked: the request is refused before anything is dialled.
func TestClientSendsUserTokensInClearOnlyToLoopback(t *testing.T) {
	w := &Workload{cfg: Config{Name: "property-service", Mode: Tokens,
		Callees: []Callee{{Name: "user-service", URL: "http://127.0.0.1:1", Token: alpha, UserTokens: true}}}}
	client, _, err := w.Client("user-service", time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, url := range []string{"http://10.0.0.7:9001/x", "http://user-service-internal:9001/x"} {
		req, _ := http.NewRequest("POST", url, strings.NewReader(`{"subject_token":"x"}`))
		if _, err := client.Do(req); !errors.Is(err, internalauth.ErrPlainHTTP) {
			t.Errorf("%s: %v, want ErrPlainHTTP", url, err)
		}
	}
}

// Token mode's listener serves the certificate in its files, verified by a
// caller against the CA file, and a certificate renewed on disk without a
// restart; a pair that does not load keeps the last good one.
func TestTokenModeTLSServesTheRenewedCertificate(t *testing.T) {
	first := testenv.NewTLSFiles(t, "127.0.0.1")
	files := TLSFiles{CertFile: first.Cert, KeyFile: first.Key, CAFile: first.CA}
	server, err := files.tokenServerTLS(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	// As the internal listener is served (listener.Listen): a TLS listener
	// with this configuration (httptest's StartTLS would add its own certificate).
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Listener = tls.NewListener(srv.Listener, server)
	srv.Start()
	t.Cleanup(srv.Close)
	url := strings.Replace(srv.URL, "http://", "https://", 1)
	client := func(caPEM []byte) *http.Client {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(caPEM)
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
			TLSClientConfig: &tls.Config{RootCAs: pool}}}
	}
	get := func(c *http.Client) error {
		resp, err := c.Get(url)
		if err == nil {
			_ = resp.Body.Close()
		}
		return err
	}
	caller, err := files.tokenClientTLS()
	if err != nil {
		t.Fatal(err)
	}
	if err := get(&http.Client{Transport: &http.Transport{TLSClientConfig: caller}}); err != nil {
		t.Fatalf("a caller with the CA file: %v", err)
	}
	renewed := testenv.NewTLSFiles(t, "127.0.0.1") // another CA: which one answers is unambiguous
	time.Sleep(keyPairCheck)
	if err := os.WriteFile(first.Key, []byte("half written"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := get(client(first.CAPEM)); err != nil {
		t.Fatalf("a renewal half written: %v, want the last good certificate", err)
	}
	for name, from := range map[string]string{first.Cert: renewed.Cert, first.Key: renewed.Key} {
		data, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(keyPairCheck)
	if err := get(client(renewed.CAPEM)); err != nil {
		t.Fatalf("after the renewal: %v, want the new certificate", err)
	}
	if err := get(client(first.CAPEM)); err == nil {
		t.Fatal("the old certificate is still served after the renewal")
	}
}

// A caller that presents a token to an https:// callee (token mode across
// hosts, or token+spiffe towards a user service not migrated yet) verifies
// the callee's certificate against the CA file and sends its token inside
// TLS; a callee whose certificate that CA did not sign gets no request.
func TestTokenCallerVerifiesTheCalleeAgainstTheCAFile(t *testing.T) {
	good, other := testenv.NewTLSFiles(t, "127.0.0.1"), testenv.NewTLSFiles(t, "127.0.0.1")
	serve := func(f testenv.TLSFiles, got *atomic.Value) string {
		cfg, err := TLSFiles{CertFile: f.Cert, KeyFile: f.Key}.tokenServerTLS(slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			got.Store(r.Header.Get(internalauth.Header))
		}))
		srv.Listener = tls.NewListener(srv.Listener, cfg)
		srv.Start()
		t.Cleanup(srv.Close)
		return strings.Replace(srv.URL, "http://", "https://", 1)
	}
	var atGood, atOther atomic.Value
	goodURL, otherURL := serve(good, &atGood), serve(other, &atOther)
	for _, mode := range []Mode{Tokens, Both} {
		w := &Workload{cfg: Config{Name: "property-service", Mode: mode, TLS: TLSFiles{CAFile: good.CA},
			Callees: []Callee{{Name: "user-service", URL: goodURL, Token: alpha, UserTokens: true}}}}
		client, base, err := w.Client("user-service", 5*time.Second, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, url := range []string{base, otherURL} {
			req, _ := http.NewRequest("POST", url+"/api/internal/users/subject-tokens", strings.NewReader(`{}`))
			resp, err := client.Do(req)
			if err == nil {
				_ = resp.Body.Close()
			}
			if (err == nil) != (url == base) {
				t.Errorf("%s to %s: %v", mode, url, err)
			}
		}
		if atGood.Load() != alpha || atOther.Load() != nil {
			t.Fatalf("%s: the callee got %v, the one with another CA's certificate %v", mode, atGood.Load(), atOther.Load())
		}
	}
}
