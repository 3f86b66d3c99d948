package testenv

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
)

// BearerRefusals checks a public listener's 401s for the operation at
// method and url (one that needs a bearer token and answers 200 to a valid
// token with claims: the user service also wants a live session's sid), as RFC 6750 section 3 has them: a missing token gets
// the bare challenge, a malformed header invalid_request, a token that was
// never valid invalid_token "not valid", and an expired token of ours
// invalid_token "expired", with the problem body saying the same (detail, and
// type token-expired). A token within jwtauth.Leeway past its exp is still
// accepted. key and s are the service's signing key and JWT settings.
func BearerRefusals(t *testing.T, method, url string, claims jwtauth.Claims, key ed25519.PrivateKey, s jwtauth.Settings) {
	t.Helper()
	const ttl = 10 * time.Minute
	_, otherKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(k ed25519.PrivateKey, expiredAgo time.Duration) string {
		t.Helper()
		tok, _, err := jwtauth.NewSigner(k, nil, s, ttl).Sign(claims, time.Now().Add(-ttl-expiredAgo))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	const realm = `Bearer realm="jeeves4service"`
	const unauthorized, expiredType = "https://jeeves4service.dev/problems/unauthorized",
		"https://jeeves4service.dev/problems/token-expired"
	for _, c := range []struct {
		name, authorization, challenge, problemType string
		expired                                     bool
	}{
		{"no token", "", realm, unauthorized, false},
		{"not a bearer token", "Basic dXNlcjpwYXNz",
			realm + `, error="invalid_request", error_description="The Authorization header is not Bearer <token>"`, unauthorized, false},
		{"garbage", "Bearer not.a.jwt", realm + `, error="invalid_token", error_description="The access token is not valid"`,
			unauthorized, false},
		{"another key, expired", "Bearer " + sign(otherKey, time.Hour),
			realm + `, error="invalid_token", error_description="The access token is not valid"`, unauthorized, false},
		{"ours, expired past the leeway", "Bearer " + sign(key, jwtauth.Leeway+20*time.Second),
			realm + `, error="invalid_token", error_description="The access token expired"`, expiredType, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var headers []string
			if c.authorization != "" {
				headers = []string{"Authorization", c.authorization}
			}
			r := Do(t, method, url, nil, headers...)
			if r.Status != 401 {
				t.Fatalf("status %d, want 401 (%s)", r.Status, r.Body)
			}
			if got := r.Header.Get("WWW-Authenticate"); got != c.challenge {
				t.Errorf("WWW-Authenticate %q, want %q", got, c.challenge)
			}
			p := r.Problem(t)
			detail, _ := p["detail"].(string)
			if p["type"] != c.problemType || strings.Contains(detail, "expired") != c.expired {
				t.Errorf("problem type %v, detail %q: want type %s and a detail that says expired only if it is (%v)",
					p["type"], detail, c.problemType, c.expired)
			}
		})
	}
	t.Run("ours, expired within the leeway", func(t *testing.T) {
		if r := Do(t, method, url, nil, Bearer(sign(key, jwtauth.Leeway-10*time.Second))...); r.Status != 200 {
			t.Fatalf("status %d, want 200: a token %s past its exp is within the leeway (%s)", r.Status,
				jwtauth.Leeway-10*time.Second, r.Body)
		}
	})
}
