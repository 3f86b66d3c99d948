package property_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/internalauth"
	"github.com/jeeves4service/jeeves4service/services/common/config"
	"github.com/jeeves4service/jeeves4service/services/property"
)

// Issue 33: token mode's TLS. Its variables are read and their files loaded
// at start, so a certificate without its key, a file that is not one, or a
// variable the mode does not use stops the service naming the variable.
func TestInternalTLSConfiguration(t *testing.T) {
	files := testenv.NewTLSFiles(t, "127.0.0.1")
	other := testenv.NewTLSFiles(t, "127.0.0.1")
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tokens := func(more map[string]string) map[string]string {
		m := map[string]string{"INTERNAL_SERVICE_TOKEN": goodToken, "PROPERTY_SERVICE_TOKEN": ownToken}
		for k, v := range more {
			m[k] = v
		}
		return m
	}
	bad := []struct {
		name string
		env  map[string]string
	}{
		{"INTERNAL_TLS_KEY_FILE", tokens(map[string]string{"INTERNAL_TLS_CERT_FILE": files.Cert})},
		{"INTERNAL_TLS_CERT_FILE", tokens(map[string]string{"INTERNAL_TLS_KEY_FILE": files.Key})},
		{"INTERNAL_TLS_CERT_FILE", tokens(map[string]string{"INTERNAL_TLS_CERT_FILE": files.Cert, "INTERNAL_TLS_KEY_FILE": other.Key})},
		{"INTERNAL_TLS_CERT_FILE", tokens(map[string]string{"INTERNAL_TLS_CERT_FILE": notPEM, "INTERNAL_TLS_KEY_FILE": files.Key})},
		{"INTERNAL_TLS_CA_FILE", tokens(map[string]string{"INTERNAL_TLS_CA_FILE": notPEM})},
		{"INTERNAL_TLS_CA_FILE", tokens(map[string]string{"INTERNAL_TLS_CA_FILE": filepath.Join(t.TempDir(), "none.pem")})},
		// spiffe's TLS is the SVIDs': token mode's files are not used there.
		{"INTERNAL_TLS_CERT_FILE", map[string]string{"INTERNAL_AUTH": "spiffe", "INTERNAL_TLS_CERT_FILE": files.Cert,
			"INTERNAL_TLS_KEY_FILE": files.Key}},
		{"INTERNAL_TLS_CA_FILE", map[string]string{"INTERNAL_AUTH": "spiffe", "INTERNAL_TLS_CA_FILE": files.CA}},
		{"INTERNAL_TLS_CERT_FILE", map[string]string{"INTERNAL_AUTH": "token+spiffe", "INTERNAL_SERVICE_TOKEN": goodToken,
			"PROPERTY_SERVICE_TOKEN": ownToken, "INTERNAL_TLS_CERT_FILE": files.Cert, "INTERNAL_TLS_KEY_FILE": files.Key}},
		// The exchange carries users' access tokens: plain http only on loopback.
		{"USER_SERVICE_INTERNAL_URL", tokens(map[string]string{"USER_SERVICE_INTERNAL_URL": "http://user-service-internal:9001"})},
		{"USER_SERVICE_INTERNAL_URL", map[string]string{"INTERNAL_AUTH": "token+spiffe", "INTERNAL_SERVICE_TOKEN": goodToken,
			"PROPERTY_SERVICE_TOKEN": ownToken, "USER_SERVICE_INTERNAL_URL": "http://10.0.0.7:9001"}},
	}
	for _, c := range bad {
		_, err := property.LoadConfig(func(k string) string { return c.env[k] })
		var cerr *config.Error
		if !errors.As(err, &cerr) || cerr.Var != c.name {
			t.Errorf("%v: %v, want an error naming %s", c.env, err, c.name)
		}
		if err != nil && (strings.Contains(err.Error(), goodToken) || strings.Contains(err.Error(), ownToken)) {
			t.Errorf("%s: the error quotes a token", c.name)
		}
	}
	good := []map[string]string{
		tokens(files.Env()),
		tokens(map[string]string{"USER_SERVICE_INTERNAL_URL": "https://user-service-internal:9001", "INTERNAL_TLS_CA_FILE": files.CA}),
		tokens(map[string]string{"USER_SERVICE_INTERNAL_URL": "https://user-service-internal:9001"}), // the system's CAs
		tokens(map[string]string{"USER_SERVICE_INTERNAL_URL": "http://localhost:9001"}),
		tokens(map[string]string{"USER_SERVICE_INTERNAL_URL": "http://[::1]:9001"}),
	}
	for _, env := range good {
		if _, err := property.LoadConfig(func(k string) string { return env[k] }); err != nil {
			t.Errorf("%v: %v", env, err)
		}
	}
	// token+spiffe calls a user service still in token mode with its token,
	// over TLS (the migration across hosts), and one in spiffe mode without.
	both := map[string]string{"INTERNAL_AUTH": "token+spiffe", "INTERNAL_SERVICE_TOKEN": goodToken,
		"USER_SERVICE_INTERNAL_URL": "https://user-service-internal:9001", "INTERNAL_TLS_CA_FILE": files.CA}
	cfg, err := property.LoadConfig(func(k string) string { return both[k] })
	if callee, _ := cfg.Internal.Callee("user-service"); err != nil || !callee.UsesSPIFFE() {
		t.Errorf("token+spiffe without PROPERTY_SERVICE_TOKEN towards https: %v, SPIFFE %v", err, callee.UsesSPIFFE())
	}
	both["PROPERTY_SERVICE_TOKEN"] = ownToken
	cfg, err = property.LoadConfig(func(k string) string { return both[k] })
	if callee, _ := cfg.Internal.Callee("user-service"); err != nil || callee.UsesSPIFFE() || callee.Token != ownToken {
		t.Errorf("token+spiffe with PROPERTY_SERVICE_TOKEN towards https: %v, SPIFFE %v", err, callee.UsesSPIFFE())
	}
}

// With a certificate, token mode's internal listener speaks only TLS: a
// plain-HTTP request gets no answer a client could send a token in, a client
// that does not trust the CA fails the handshake, and one that does is
// answered by the guard as before.
func TestTokenModeInternalListenerSpeaksOnlyTLS(t *testing.T) {
	files := testenv.NewTLSFiles(t, "127.0.0.1")
	e := startEnv(t, files.Env())
	url := strings.Replace(e.internal, "http://", "https://", 1) + "/api/internal/properties/users/1"
	if r, err := testenv.Try("GET", strings.Replace(url, "https://", "http://", 1), nil, internalauth.Header, goodToken); err == nil &&
		r.Status != http.StatusBadRequest {
		t.Fatalf("plain HTTP to the TLS internal listener: %d", r.Status)
	}
	if _, err := testenv.Try("GET", url, nil); err == nil {
		t.Fatal("a client that does not trust the internal CA completed the handshake")
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(files.CAPEM)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	r, err := testenv.TryWith(client, "GET", url, nil, internalauth.Header, goodToken)
	if err != nil || r.Status != http.StatusUnauthorized { // a credential without a subject token
		t.Fatalf("over TLS with the token and no subject token: %v %d, want 401 from the guard", err, r.Status)
	}
}
