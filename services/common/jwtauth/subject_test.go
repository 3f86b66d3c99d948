package jwtauth_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
)

var subjectFor = jwtauth.SubjectRequest{Subject: "7", Audience: "property-service", Operation: "getUserProperties",
	AuthorizedParty: "user-service"}

func newSigner(t *testing.T) (*jwtauth.Signer, ed25519.PrivateKey) {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return jwtauth.NewSigner(key, nil, settings, time.Hour), key
}

// signRaw signs claims with key under an arbitrary header (the attacker's
// view: the right key, the wrong kind of token).
func signRaw(t *testing.T, key ed25519.PrivateKey, header map[string]any, claims any) string {
	t.Helper()
	h, _ := json.Marshal(header)
	p, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	signing := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p)
	sig, err := jwt.SigningMethodEdDSA.Sign(signing, key)
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestSubjectTokenVerifiesForItsAudienceOnly(t *testing.T) {
	s, _ := newSigner(t)
	tok, c, err := s.SignSubject(subjectFor, 30*time.Second, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	v := jwtauth.NewSubjectVerifier(s, settings.Issuer)
	got, err := v.Verify(context.Background(), tok, "property-service")
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != "7" || got.Operation != "getUserProperties" || got.AuthorizedParty != "user-service" ||
		got.ID == "" || got.ID != c.ID {
		t.Fatalf("claims %+v", got)
	}
	if _, err := v.Verify(context.Background(), tok, "user-service"); err == nil {
		t.Fatal("accepted for another audience")
	}
	if _, err := jwtauth.NewSubjectVerifier(s, "another-issuer").Verify(context.Background(), tok, "property-service"); err == nil {
		t.Fatal("accepted from another issuer")
	}
	tok2, c2, _ := s.SignSubject(subjectFor, 30*time.Second, time.Now())
	if tok2 == tok || c2.ID == c.ID {
		t.Fatal("two tokens share a jti")
	}
}

func TestSubjectTokenLifetimeAndLeeway(t *testing.T) {
	s, key := newSigner(t)
	now := time.Now()
	if _, _, err := s.SignSubject(subjectFor, 61*time.Second, now); err == nil {
		t.Fatal("minted a subject token living over 60 s")
	}
	tok, _, err := s.SignSubject(subjectFor, 10*time.Second, now)
	if err != nil {
		t.Fatal(err)
	}
	at := func(d time.Duration) *jwtauth.SubjectVerifier {
		return jwtauth.NewSubjectVerifier(s, settings.Issuer).WithClock(func() time.Time { return now.Add(d) })
	}
	if _, err := at(14*time.Second).Verify(context.Background(), tok, "property-service"); err != nil {
		t.Fatalf("refused within the 5 s leeway: %v", err)
	}
	if _, err := at(16*time.Second).Verify(context.Background(), tok, "property-service"); err == nil ||
		!strings.Contains(err.Error(), jwtauth.ErrSubjectExpired.Error()) {
		t.Fatalf("accepted more than 5 s past exp: %v", err)
	}
	// Signed with the right key but living two minutes: refused.
	kid := jwtauth.KeyID(key.Public().(ed25519.PublicKey))
	long := signRaw(t, key, map[string]any{"alg": "EdDSA", "typ": jwtauth.SubjectTokenType, "kid": kid},
		map[string]any{"iss": settings.Issuer, "sub": "7", "aud": "property-service", "op": "getUserProperties",
			"azp": "user-service", "jti": "x", "iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix()})
	if _, err := at(0).Verify(context.Background(), long, "property-service"); err == nil {
		t.Fatal("accepted a subject token living two minutes")
	}
}

// alg:none, HS256 keyed with the public key, a forged signature, a missing
// claim: all refused.
func TestSubjectTokenForgeriesAreRefused(t *testing.T) {
	s, key := newSigner(t)
	pub := key.Public().(ed25519.PublicKey)
	kid := jwtauth.KeyID(pub)
	now := time.Now()
	claims := map[string]any{"iss": settings.Issuer, "sub": "7", "aud": "property-service", "op": "getUserProperties",
		"azp": "user-service", "jti": "j1", "iat": now.Unix(), "exp": now.Add(30 * time.Second).Unix()}
	enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	none := enc(map[string]any{"alg": "none", "typ": jwtauth.SubjectTokenType, "kid": kid}) + "." + enc(claims) + "."
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(claims))
	hs.Header["typ"], hs.Header["kid"] = jwtauth.SubjectTokenType, kid
	hsTok, err := hs.SignedString([]byte(pub))
	if err != nil {
		t.Fatal(err)
	}
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	forged := signRaw(t, other, map[string]any{"alg": "EdDSA", "typ": jwtauth.SubjectTokenType, "kid": kid}, claims)
	good, _, _ := s.SignSubject(subjectFor, 30*time.Second, now)
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + enc(map[string]any{"iss": settings.Issuer, "sub": "8", "aud": "property-service",
		"op": "getUserProperties", "azp": "user-service", "jti": "j1", "iat": now.Unix(), "exp": now.Add(30 * time.Second).Unix()}) +
		"." + parts[2]
	v := jwtauth.NewSubjectVerifier(s, settings.Issuer)
	for name, tok := range map[string]string{"alg:none": none, "HS256 with the public key": hsTok, "forged": forged,
		"tampered sub": tampered, "empty": "", "garbage": "a.b.c"} {
		if _, err := v.Verify(context.Background(), tok, "property-service"); err == nil {
			t.Fatalf("%s: accepted", name)
		}
	}
	for _, missing := range []string{"op", "azp", "jti", "sub", "iat", "exp"} {
		c := map[string]any{}
		for k, val := range claims {
			if k != missing {
				c[k] = val
			}
		}
		tok := signRaw(t, key, map[string]any{"alg": "EdDSA", "typ": jwtauth.SubjectTokenType, "kid": kid}, c)
		if _, err := v.Verify(context.Background(), tok, "property-service"); err == nil {
			t.Fatalf("accepted without %s", missing)
		}
	}
}

// The two kinds of token the user service signs with one key are never
// interchangeable, even when the claims would fit: an access token's typ is
// refused as a subject token, a subject token's typ as an access token.
func TestSubjectAndAccessTokensAreNotInterchangeable(t *testing.T) {
	s, key := newSigner(t)
	kid := jwtauth.KeyID(key.Public().(ed25519.PublicKey))
	now := time.Now()
	both := map[string]any{"iss": settings.Issuer, "sub": "7", "user_id": 7, "aud": []string{settings.Audience},
		"op": "getUserProperties", "azp": "user-service", "jti": "j1", "iat": now.Unix(), "exp": now.Add(30 * time.Second).Unix()}
	asAccess := signRaw(t, key, map[string]any{"alg": "EdDSA", "typ": jwtauth.AccessTokenType, "kid": kid}, both)
	asSubject := signRaw(t, key, map[string]any{"alg": "EdDSA", "typ": jwtauth.SubjectTokenType, "kid": kid}, both)
	access := jwtauth.NewVerifier(s, settings)
	subject := jwtauth.NewSubjectVerifier(s, settings.Issuer)
	if _, err := access.Verify(context.Background(), asAccess); err != nil {
		t.Fatalf("the control failed: %v", err)
	}
	if _, err := subject.Verify(context.Background(), asSubject, settings.Audience); err != nil {
		t.Fatalf("the control failed: %v", err)
	}
	if _, err := access.Verify(context.Background(), asSubject); err == nil {
		t.Fatal("a subject token passed as an access token")
	}
	if _, err := subject.Verify(context.Background(), asAccess, settings.Audience); err == nil {
		t.Fatal("an access token passed as a subject token")
	}
	// And the real ones.
	c := jwtauth.Claims{UserID: 7}
	c.Subject = "7"
	real, _, err := s.Sign(c, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := subject.Verify(context.Background(), real, settings.Audience); err == nil {
		t.Fatal("an access token passed as a subject token")
	}
	st, _, _ := s.SignSubject(jwtauth.SubjectRequest{Subject: "7", Audience: settings.Audience, Operation: "x",
		AuthorizedParty: "user-service"}, 30*time.Second, now)
	if _, err := access.Verify(context.Background(), st); err == nil {
		t.Fatal("a subject token passed as an access token")
	}
}

// The subject check's cost per internal call: one Ed25519 verification and
// the claims' parsing (nothing is cached: every token is used once).
func BenchmarkSubjectVerify(b *testing.B) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	s := jwtauth.NewSigner(key, nil, settings, time.Hour)
	tok, _, err := s.SignSubject(subjectFor, 30*time.Second, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	v := jwtauth.NewSubjectVerifier(s, settings.Issuer)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(context.Background(), tok, "property-service"); err != nil {
			b.Fatal(err)
		}
	}
}

// Minting one, at login and refresh.
func BenchmarkSubjectSign(b *testing.B) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	s := jwtauth.NewSigner(key, nil, settings, time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.SignSubject(subjectFor, 30*time.Second, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}
