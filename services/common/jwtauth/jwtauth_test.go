package jwtauth_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
)

var settings = jwtauth.Settings{Issuer: "iss", Audience: "aud"}

func TestKeyFileIsCreatedPrivateAndReloaded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "key.pem")
	k1, err := jwtauth.LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", info.Mode().Perm(), err)
	}
	k2, err := jwtauth.LoadOrCreateKey(path)
	if err != nil || !k1.Equal(k2) {
		t.Fatalf("reload: %v", err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := jwtauth.LoadOrCreateKey(path); err == nil {
		t.Fatal("world-readable key accepted")
	}
}

// Rotation: a token signed by the retired key still verifies while its public
// key stays in the JWKS; new tokens use the new key.
func TestRetiredKeyStillVerifies(t *testing.T) {
	_, oldKey, _ := ed25519.GenerateKey(rand.Reader)
	_, newKey, _ := ed25519.GenerateKey(rand.Reader)
	old := jwtauth.NewSigner(oldKey, nil, settings, time.Hour)
	c := jwtauth.Claims{UserID: 1}
	c.Subject = "1"
	tok, _, err := old.Sign(c, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rotated := jwtauth.NewSigner(newKey, []ed25519.PublicKey{oldKey.Public().(ed25519.PublicKey)}, settings, time.Hour)
	if n := len(rotated.JWKS().Keys); n != 2 {
		t.Fatalf("JWKS has %d keys, want 2", n)
	}
	v := jwtauth.NewVerifier(rotated, settings)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("token of retired key: %v", err)
	}
	without := jwtauth.NewVerifier(jwtauth.NewSigner(newKey, nil, settings, time.Hour), settings)
	if _, err := without.Verify(context.Background(), tok); err == nil {
		t.Fatal("token verified after its key left the JWKS")
	}
	// and the retired key file format loads
	der, _ := x509.MarshalPKIXPublicKey(oldKey.Public())
	path := filepath.Join(t.TempDir(), "old.pub.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if pub, err := jwtauth.LoadPublicKey(path); err != nil || !pub.Equal(oldKey.Public()) {
		t.Fatalf("load public key: %v", err)
	}
}

func FuzzVerify(f *testing.F) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	s := jwtauth.NewSigner(key, nil, settings, time.Hour)
	c := jwtauth.Claims{UserID: 1}
	c.Subject = "1"
	good, _, _ := s.Sign(c, time.Now())
	f.Add(good)
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.")
	f.Add("")
	f.Add("a.b.c")
	v := jwtauth.NewVerifier(s, settings)
	f.Fuzz(func(t *testing.T, token string) {
		claims, err := v.Verify(context.Background(), token)
		if err == nil && token != good {
			t.Fatalf("a token other than the one signed verified: %q -> %+v", token, claims)
		}
	})
}

// jwksServer publishes whatever set a test puts in it and counts fetches.
type jwksServer struct {
	mu      sync.Mutex
	set     jwtauth.JWKS
	fail    bool
	maxAge  string
	fetches int
	srv     *httptest.Server
}

func newJWKSServer(t *testing.T, keys ...ed25519.PrivateKey) *jwksServer {
	j := &jwksServer{}
	j.publish(keys...)
	j.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		j.mu.Lock()
		defer j.mu.Unlock()
		j.fetches++
		if j.fail {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		if j.maxAge != "" {
			w.Header().Set("Cache-Control", "max-age="+j.maxAge)
		}
		_ = json.NewEncoder(w).Encode(j.set)
	}))
	t.Cleanup(j.srv.Close)
	return j
}

func (j *jwksServer) publish(keys ...ed25519.PrivateKey) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.set = jwtauth.JWKS{}
	for _, k := range keys {
		j.set.Keys = append(j.set.Keys, jwtauth.PublicJWK(k.Public().(ed25519.PublicKey)))
	}
}

func (j *jwksServer) count() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.fetches
}

func (j *jwksServer) setFail(fail bool) {
	j.mu.Lock()
	j.fail = fail
	j.mu.Unlock()
}

func newKey(t *testing.T) (ed25519.PrivateKey, string) {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k, jwtauth.KeyID(k.Public().(ed25519.PublicKey))
}

func signWith(t *testing.T, k ed25519.PrivateKey) string {
	tok, _, err := jwtauth.NewSigner(k, nil, settings, time.Hour).Sign(jwtauth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: "7"}, UserID: 7}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// runKeys starts the scheduled refresh until the test ends.
func runKeys(t *testing.T, keys *jwtauth.RemoteKeys) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { keys.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// A token names a kid the verifier has not seen (the user service rotated
// its key): the JWKS is fetched again at once, and concurrent callers share
// one fetch.
func TestRemoteKeysFetchAnUnknownKidOnceForEveryone(t *testing.T) {
	k1, kid1 := newKey(t)
	k2, kid2 := newKey(t)
	j := newJWKSServer(t, k1)
	keys := jwtauth.NewRemoteKeys(j.srv.URL, time.Hour)
	ctx := context.Background()
	if _, err := keys.Key(ctx, kid1); err != nil || j.count() != 1 {
		t.Fatalf("first key: %v after %d fetches", err, j.count())
	}
	if _, err := keys.Key(ctx, kid1); err != nil || j.count() != 1 {
		t.Fatalf("known key refetched: %d fetches", j.count())
	}
	j.publish(k2, k1)
	testenv.Concurrently(t, 50, func(i int) error {
		_, err := keys.Key(ctx, kid2)
		return err
	})
	if n := j.count(); n > 3 {
		t.Fatalf("50 concurrent callers with a new kid made %d fetches; they should share", n-1)
	}
}

// Issue 17, attack 3: a key removed from the JWKS (a compromised key) used to
// stay trusted until restart. It is refused once the set is refreshed, cached
// verifications included.
func TestKeyRemovedFromTheJWKSIsRefusedAfterTheRefreshInterval(t *testing.T) {
	k1, _ := newKey(t)
	k2, _ := newKey(t)
	j := newJWKSServer(t, k1, k2)
	keys := jwtauth.NewRemoteKeys(j.srv.URL, 200*time.Millisecond)
	runKeys(t, keys)
	v := jwtauth.NewVerifier(keys, settings)
	old, current := signWith(t, k1), signWith(t, k2)
	if _, err := v.Verify(context.Background(), old); err != nil {
		t.Fatalf("before removal: %v", err)
	}
	j.publish(k2) // k1 is compromised and withdrawn
	time.Sleep(600 * time.Millisecond)
	if _, err := v.Verify(context.Background(), old); err == nil {
		t.Fatal("a token signed by a key removed from the JWKS is still accepted after the refresh interval")
	}
	if _, err := v.Verify(context.Background(), current); err != nil {
		t.Fatalf("the key still published: %v", err)
	}
}

// A shorter Cache-Control max-age from the JWKS wins over the interval.
func TestJWKSMaxAgeShortensTheInterval(t *testing.T) {
	k1, kid1 := newKey(t)
	k2, _ := newKey(t)
	j := newJWKSServer(t, k1, k2)
	j.maxAge = "1"
	keys := jwtauth.NewRemoteKeys(j.srv.URL, time.Hour)
	runKeys(t, keys)
	if _, err := keys.Key(context.Background(), kid1); err != nil {
		t.Fatal(err)
	}
	j.publish(k2)
	deadline := time.Now().Add(3 * time.Second)
	for keys.Has(kid1) {
		if time.Now().After(deadline) {
			t.Fatal("max-age=1 ignored: the removed key is still held after 3s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A failed fetch keeps the last good set, and only failed fetches back off.
func TestFailedFetchKeepsTheLastGoodSetAndBacksOff(t *testing.T) {
	k1, kid1 := newKey(t)
	j := newJWKSServer(t, k1)
	keys := jwtauth.NewRemoteKeys(j.srv.URL, 100*time.Millisecond)
	runKeys(t, keys)
	if _, err := keys.Key(context.Background(), kid1); err != nil {
		t.Fatal(err)
	}
	j.setFail(true)
	time.Sleep(300 * time.Millisecond)
	if _, err := keys.Key(context.Background(), kid1); err != nil {
		t.Fatalf("key lost because the JWKS endpoint failed: %v", err)
	}
	before := j.count()
	for i := 0; i < 20; i++ {
		_, _ = keys.Key(context.Background(), "forged-"+fmt.Sprint(i))
	}
	if n := j.count() - before; n > 2 {
		t.Fatalf("20 unknown kids while the endpoint fails made %d fetches; failures must back off", n)
	}
}

// Issue 17, attack 4: a request with a bogus kid whose connection is reset
// used to cancel the fetch, and the failure started a 10 s back-off in which
// valid tokens with a new kid failed. Fetches now run on their own context,
// and a successful fetch never blocks the next one.
func TestJWKSRefreshCannotBePoisoned(t *testing.T) {
	k1, _ := newKey(t)
	k2, _ := newKey(t)
	j := newJWKSServer(t, k1)
	keys := jwtauth.NewRemoteKeys(j.srv.URL, time.Hour)
	v := jwtauth.NewVerifier(keys, settings)
	if _, err := v.Verify(context.Background(), signWith(t, k1)); err != nil {
		t.Fatal(err)
	}
	// Four attackers keep sending bogus kids and dropping the connection.
	bogus := forgeKid(t, k1, "bogus")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for a := 0; a < 4; a++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithCancel(context.Background())
				cancel() // the client reset its connection
				_, _ = v.Verify(ctx, bogus)
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	j.publish(k2, k1) // the user service rotates its key
	fresh := signWith(t, k2)
	for i := 0; i < 10; i++ {
		if _, err := v.Verify(context.Background(), fresh); err != nil {
			close(stop)
			wg.Wait()
			t.Fatalf("attempt %d: a valid token with the new kid is refused while attackers poison the refresh: %v", i, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
}

// forgeKid signs a token with k but names another kid in its header.
func forgeKid(t *testing.T, k ed25519.PrivateKey, kid string) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwtauth.Claims{RegisteredClaims: jwt.RegisteredClaims{
		Subject: "7", Issuer: settings.Issuer, Audience: jwt.ClaimStrings{settings.Audience},
		IssuedAt: jwt.NewNumericDate(time.Now()), ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}, UserID: 7})
	tok.Header["kid"] = kid
	s, err := tok.SignedString(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The JWKS is fetched where JWT_JWKS_URL says and nowhere else: checkJWKSURL
// refuses a plain-http URL off loopback, and a redirect (to http://, or to
// another host) would take the fetch past that check to keys someone else
// chose. The target of a redirect gets nothing; the key is not found.
func TestJWKSFetchFollowsNoRedirect(t *testing.T) {
	k, kid := newKey(t)
	j := newJWKSServer(t, k)
	redirect := httptest.NewServer(http.RedirectHandler(j.srv.URL, http.StatusTemporaryRedirect))
	t.Cleanup(redirect.Close)
	keys := jwtauth.NewRemoteKeys(redirect.URL, time.Hour)
	if _, err := keys.Key(context.Background(), kid); err == nil || j.count() != 0 {
		t.Fatalf("through a redirect: %v, %d fetches at its target", err, j.count())
	}
}
