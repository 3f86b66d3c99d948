package jwtauth_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
)

// An access token past its exp (and the leeway) is told apart from one that
// was never valid, so that a client knows to refresh rather than sign in
// again; but only a token that is good in every other way, signed with a
// trusted key, is called expired: a forger cannot make a token pass for an
// expired one of ours. Within jwtauth.Leeway past exp a token is accepted.
func TestExpiredTokenIsToldApartFromAForgedOne(t *testing.T) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, otherKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const ttl = 10 * time.Minute
	ours := jwtauth.NewSigner(key, nil, settings, ttl)
	v := jwtauth.NewVerifier(ours, settings)
	sign := func(s *jwtauth.Signer, expiredAgo time.Duration) string {
		t.Helper()
		c := jwtauth.Claims{UserID: 7}
		c.Subject = "7"
		tok, _, err := s.Sign(c, time.Now().Add(-ttl-expiredAgo))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	// A signer with our key id but another key: the forger's best try.
	forger := jwtauth.NewSigner(otherKey, nil, settings, ttl)
	tampered := sign(ours, time.Hour)
	last := byte('A')
	if tampered[len(tampered)-2] == last {
		last = 'B'
	}
	tampered = tampered[:len(tampered)-2] + string(last) + tampered[len(tampered)-1:] // a signature byte, not padding bits
	otherAudience := jwtauth.NewSigner(key, nil, jwtauth.Settings{Issuer: settings.Issuer, Audience: "elsewhere"}, ttl)

	for _, c := range []struct {
		name        string
		token       string
		wantExpired bool
		wantValid   bool
	}{
		{"ours, within the leeway", sign(ours, jwtauth.Leeway-10*time.Second), false, true},
		{"ours, past the leeway", sign(ours, jwtauth.Leeway+10*time.Second), true, false},
		{"ours, an hour ago", sign(ours, time.Hour), true, false},
		{"another key, past exp", sign(forger, time.Hour), false, false},
		{"our key, another audience, past exp", sign(otherAudience, time.Hour), false, false},
		{"our key, past exp, signature tampered", tampered, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), c.token)
			if c.wantValid {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if got := errors.Is(err, jwtauth.ErrExpired); got != c.wantExpired {
				t.Fatalf("errors.Is(err, ErrExpired) = %v, want %v (%v)", got, c.wantExpired, err)
			}
		})
	}
}
