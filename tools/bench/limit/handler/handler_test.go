package handler

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/services/common/database"
	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
)

// TestSubjectToken: with a key, the limit answers the internal call only
// with a subject token the shipped service would accept for it, so that
// both sides of make bench-instructions pay the same signature check.
func TestSubjectToken(t *testing.T) {
	ctx := context.Background()
	db, engine, err := database.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "property.db"), "property", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`INSERT INTO properties (id, name, address, created_by, created_at, updated_at) VALUES (1, 'Home', '1 Street', 7, 1, 1)`,
		`INSERT INTO property_members (property_id, user_id, access_level, created_at) VALUES (1, 7, 'owner', 1)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	settings := jwtauth.Settings{Issuer: "jeeves4service", Audience: "jeeves4service"}
	signer := jwtauth.NewSigner(key, nil, settings, time.Hour)
	h, err := New(ctx, db, engine, "secret", PublicKey(key.Public().(ed25519.PublicKey), "jeeves4service"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	mint := func(s *jwtauth.Signer, sub, op, azp string, now time.Time) string {
		tok, _, err := s.SignSubject(jwtauth.SubjectRequest{Subject: sub, Audience: "property-service", Operation: op,
			AuthorizedParty: azp}, jwtauth.MaxSubjectTTL, now)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	access, _, err := signer.Sign(jwtauth.Claims{UserID: 7}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, c := range []struct {
		name, token string
		want        int
	}{
		{"valid", mint(signer, "7", "getUserProperties", "user-service", now), http.StatusOK},
		{"absent", "", http.StatusUnauthorized},
		{"another user", mint(signer, "8", "getUserProperties", "user-service", now), http.StatusUnauthorized},
		{"another operation", mint(signer, "7", "getProfiles", "user-service", now), http.StatusUnauthorized},
		{"another caller", mint(signer, "7", "getUserProperties", "property-service", now), http.StatusUnauthorized},
		{"expired", mint(signer, "7", "getUserProperties", "user-service", now.Add(-2*time.Minute)), http.StatusUnauthorized},
		{"another key", mint(jwtauth.NewSigner(other, nil, settings, time.Hour), "7", "getUserProperties", "user-service", now),
			http.StatusUnauthorized},
		{"an access token", access, http.StatusUnauthorized},
	} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/internal/properties/users/7", nil)
		req.Header.Set("X-Internal-Token", "secret")
		if c.token != "" {
			req.Header.Set("X-Subject-Token", c.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s: status %d, want %d", c.name, resp.StatusCode, c.want)
		}
	}
}
