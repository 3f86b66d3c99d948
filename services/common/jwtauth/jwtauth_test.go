package jwtauth_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"jeeves4service/services/common/jwtauth"
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

// The property service fetches the JWKS when first needed and again when a
// token names a kid it has not seen (the user service rotated its key), but
// not more often than MinRefresh, so forged kids cannot flood the JWKS.
func TestRemoteKeysRefreshOnUnknownKid(t *testing.T) {
	_, k1, _ := ed25519.GenerateKey(rand.Reader)
	_, k2, _ := ed25519.GenerateKey(rand.Reader)
	var mu sync.Mutex // the server runs on its own goroutine
	current := jwtauth.NewSigner(k1, nil, settings, time.Hour)
	fetches := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		fetches++
		_ = json.NewEncoder(w).Encode(current.JWKS())
	}))
	defer srv.Close()
	keys := jwtauth.NewRemoteKeys(srv.URL)
	keys.MinRefresh = 200 * time.Millisecond
	ctx := context.Background()
	kid1 := jwtauth.KeyID(k1.Public().(ed25519.PublicKey))
	kid2 := jwtauth.KeyID(k2.Public().(ed25519.PublicKey))
	if _, err := keys.Key(ctx, kid1); err != nil || fetches != 1 {
		t.Fatalf("first key: %v after %d fetches", err, fetches)
	}
	if _, err := keys.Key(ctx, kid1); err != nil || fetches != 1 {
		t.Fatalf("cached key refetched: %d fetches", fetches)
	}
	mu.Lock()
	current = jwtauth.NewSigner(k2, []ed25519.PublicKey{k1.Public().(ed25519.PublicKey)}, settings, time.Hour) // rotation
	mu.Unlock()
	if _, err := keys.Key(ctx, kid2); err == nil || fetches != 1 {
		t.Fatalf("unknown kid inside MinRefresh: %v after %d fetches", err, fetches)
	}
	time.Sleep(250 * time.Millisecond)
	if _, err := keys.Key(ctx, kid2); err != nil || fetches != 2 {
		t.Fatalf("rotated key: %v after %d fetches", err, fetches)
	}
	if _, err := keys.Key(ctx, "forged"); err == nil || fetches != 2 {
		t.Fatalf("forged kid right after a refresh: %v after %d fetches", err, fetches)
	}
}
