package jwtauth_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jeeves4service/jeeves4service/services/common/jwtauth"
)

func claimsWith(n int, name string) jwtauth.Claims {
	c := jwtauth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "7"}, UserID: 7, Username: "ada@example.com",
		TraceID: "0123456789abcdef", SessionID: "session-id-0123456789a", PropertiesIncluded: true}
	for i := 0; i < n; i++ {
		c.Properties = append(c.Properties, jwtauth.PropertyClaim{PropertyID: int64(i + 1), PropertyName: name, AccessLevel: "guest"})
	}
	return c
}

// Every token is within the signer's byte budget: the property claims are
// cut to the longest prefix that fits, and the token says so. One claim more
// would not have fitted; a token that fits is not touched.
func TestTokensStayWithinTheirByteBudget(t *testing.T) {
	k, _ := newKey(t)
	now := time.Now()
	for _, budget := range []int{1024, 2048, 4096, 8000} {
		for _, name := range []string{"Flat", strings.Repeat("<", 200), strings.Repeat(`"`, 200), strings.Repeat("😀", 100),
			strings.Repeat("\u2028", 133)} {
			for _, n := range []int{0, 1, 3, 10, 40, 1000} {
				s := jwtauth.NewSigner(k, nil, settings, time.Hour)
				s.LimitBytes(budget)
				c := claimsWith(n, name)
				tok, _, err := s.Sign(c, now)
				if err != nil {
					t.Fatalf("budget %d, %d claims named %.10q: %v", budget, n, name, err)
				}
				got, err := jwtauth.NewVerifier(s, settings).Verify(context.Background(), tok)
				if err != nil {
					t.Fatal(err)
				}
				label := fmt.Sprintf("budget %d, %d claims named %.10q (%d bytes)", budget, n, name, len(name))
				if len(tok) > budget {
					t.Fatalf("%s: a %d-byte token", label, len(tok))
				}
				kept := len(got.Properties)
				for i, p := range got.Properties {
					if p != c.Properties[i] {
						t.Fatalf("%s: claim %d came back as %+v", label, i, p)
					}
				}
				if got.PropertiesTruncated != (kept < n) || !got.PropertiesIncluded {
					t.Fatalf("%s: %d claims kept, truncated %v", label, kept, got.PropertiesTruncated)
				}
				if kept < n {
					// The same claims with one more kept: over the budget.
					wider := c
					wider.Properties, wider.PropertiesTruncated = c.Properties[:kept+1], true
					if longer := unbounded(t, k, wider, now); len(longer) <= budget {
						t.Fatalf("%s: cut to %d claims, but %d fit in %d bytes", label, kept, kept+1, len(longer))
					}
				} else if whole := unbounded(t, k, c, now); whole != tok {
					t.Fatalf("%s: a token within the budget was changed", label)
				}
			}
		}
	}
}

func unbounded(t *testing.T, k []byte, c jwtauth.Claims, now time.Time) string {
	t.Helper()
	tok, _, err := jwtauth.NewSigner(k, nil, settings, time.Hour).Sign(c, now)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// The payload is JSON without HTML escaping: '<' is one byte, not the six
// of \u003c (encoding/json's default, which golang-jwt uses), and golang-jwt's
// parser reads it back.
func TestClaimsAreWrittenWithoutHTMLEscaping(t *testing.T) {
	k, _ := newKey(t)
	s := jwtauth.NewSigner(k, nil, settings, time.Hour)
	tok, _, err := s.Sign(claimsWith(1, "<b>&amp;</b>"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(payload), `"property_name":"<b>&amp;</b>"`) {
		t.Fatalf("payload %s", payload)
	}
	got, err := jwtauth.NewVerifier(s, settings).Verify(context.Background(), tok)
	if err != nil || got.Properties[0].PropertyName != "<b>&amp;</b>" {
		t.Fatalf("%v %+v", err, got)
	}
	// The header is golang-jwt's: alg, kid, typ.
	parsed, _, err := jwt.NewParser().ParseUnverified(tok, &jwtauth.Claims{})
	if err != nil {
		t.Fatal(err)
	}
	if h := parsed.Header; h["alg"] != "EdDSA" || h["typ"] != "JWT" || h["kid"] == "" || len(h) != 3 {
		t.Fatalf("header %v", h)
	}
}

// A budget that cannot hold the token even without property claims is an
// error, never a token over the budget; TokenLength says what such claims need.
func TestABudgetTooSmallForTheClaimsFails(t *testing.T) {
	k, _ := newKey(t)
	s := jwtauth.NewSigner(k, nil, settings, time.Hour)
	now := time.Now()
	base := claimsWith(0, "")
	tok, _, err := s.Sign(base, now)
	if err != nil {
		t.Fatal(err)
	}
	s.LimitBytes(len(tok) - 1)
	if tok, _, err := s.Sign(claimsWith(5, "Flat"), now); !errors.Is(err, jwtauth.ErrTokenTooLarge) || tok != "" {
		t.Fatalf("a budget one byte short of the bare token: %d bytes, %v", len(tok), err)
	}
	filled := base
	filled.Issuer, filled.Audience = settings.Issuer, jwt.ClaimStrings{settings.Audience}
	filled.IssuedAt, filled.NotBefore, filled.ExpiresAt = jwt.NewNumericDate(now), jwt.NewNumericDate(now),
		jwt.NewNumericDate(now.Add(time.Hour))
	if n, err := jwtauth.TokenLength(filled); err != nil || n != len(tok) {
		t.Fatalf("TokenLength %d (%v), the signed token is %d", n, err, len(tok))
	}
}
