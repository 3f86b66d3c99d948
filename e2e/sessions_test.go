package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/services/user"
)

func refresh(t *testing.T, s *system, token string, headers ...string) (session, testenv.Response) {
	t.Helper()
	resp := testenv.Do(t, "POST", s.user+"/api/users/refresh", map[string]string{"refresh_token": token}, headers...)
	var out session
	if resp.Status == 200 {
		resp.JSON(t, &out)
		if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("refresh response headers: %v", resp.Header)
		}
	}
	return out, resp
}

func mustRefresh(t *testing.T, s *system, token string) session {
	t.Helper()
	out, resp := refresh(t, s, token)
	if resp.Status != 200 {
		t.Fatalf("refresh: %d %s", resp.Status, resp.Body)
	}
	return out
}

func claimedProperties(t *testing.T, s *system, token string) []int64 {
	t.Helper()
	var ids []int64
	for _, p := range verifyWithJWKS(t, s, token).Properties {
		ids = append(ids, p.PropertyID)
	}
	return ids
}

// A refresh returns a new pair whose access token's property claims are
// fetched again: a property the user was added to since login is listed,
// and no longer once they are removed from it.
func TestRefreshRotatesTokensAndRefreshesClaims(t *testing.T) {
	for _, eng := range testenv.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			s := startSystem(t, eng)
			register(t, s, "owner@example.com", "owner password 1234")
			guestID := register(t, s, "guest@example.com", "guest password 1234")
			owner, _ := login(t, s, "owner@example.com", "owner password 1234")
			guest, _ := login(t, s, "guest@example.com", "guest password 1234")
			if len(guest.RefreshToken) != 43 || claimedProperties(t, s, guest.Token) != nil {
				t.Fatalf("first login: %+v", guest)
			}
			sid := verifyWithJWKS(t, s, guest.Token).SessionID
			created := testenv.Do(t, "POST", s.property+"/api/properties/", map[string]string{"name": "Shared flat"},
				testenv.Bearer(owner.Token)...)
			var p struct{ ID int64 }
			created.JSON(t, &p)
			member := fmt.Sprintf("%s/api/property/%d/members/%d", s.property, p.ID, guestID)
			share(t, s, owner.Token, guest.Token, p.ID, "guest@example.com", "member")

			second := mustRefresh(t, s, guest.RefreshToken)
			if second.RefreshToken == guest.RefreshToken || second.Token == guest.Token || !second.PropertiesIncluded {
				t.Fatalf("refresh did not rotate: %+v", second)
			}
			if ids := claimedProperties(t, s, second.Token); fmt.Sprint(ids) != fmt.Sprint([]int64{p.ID}) {
				t.Fatalf("after being added: claims %v, want [%d]", ids, p.ID)
			}
			if got := verifyWithJWKS(t, s, second.Token).SessionID; got != sid {
				t.Fatalf("refresh changed the session: %q, want %q", got, sid)
			}
			if r := testenv.Do(t, "DELETE", member, nil, testenv.Bearer(owner.Token)...); r.Status != 204 {
				t.Fatalf("remove: %d", r.Status)
			}
			third := mustRefresh(t, s, second.RefreshToken)
			if ids := claimedProperties(t, s, third.Token); ids != nil {
				t.Fatalf("after being removed: claims %v, want none", ids)
			}
		})
	}
}

// A spent refresh token presented again is theft: the whole family ends (the
// newer token too), a WARN line says so without the token.
func TestReusedRefreshTokenEndsTheSession(t *testing.T) {
	for _, eng := range testenv.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			s := startSystem(t, eng)
			id := register(t, s, "ada@example.com", "ada password 12345")
			first, _ := login(t, s, "ada@example.com", "ada password 12345")
			second := mustRefresh(t, s, first.RefreshToken)
			if _, r := refresh(t, s, first.RefreshToken); r.Status != 401 {
				t.Fatalf("spent token again: %d", r.Status)
			}
			if _, r := refresh(t, s, second.RefreshToken); r.Status != 401 {
				t.Fatalf("the newer token of the revoked family: %d", r.Status)
			}
			if r := testenv.Do(t, "GET", s.user+"/api/users/me", nil, testenv.Bearer(second.Token)...); r.Status != 401 {
				t.Fatalf("an access token of the revoked family at the user service: %d", r.Status)
			}
			warns := s.userLogs.Lines("refresh token reused: session revoked")
			if len(warns) != 1 || warns[0]["level"] != "WARN" || warns[0]["user_id"] != float64(id) ||
				warns[0]["session"] != verifyWithJWKS(t, s, first.Token).SessionID || warns[0]["client_ip"] != "127.0.0.1" {
				t.Fatalf("reuse WARN line: %v", warns)
			}
			assertNoRefreshSecrets(t, s, first.RefreshToken, second.RefreshToken)
			// The user can start a new session as usual.
			if fresh, r := login(t, s, "ada@example.com", "ada password 12345"); r.Status != 200 || fresh.RefreshToken == "" {
				t.Fatalf("login after the revocation: %d", r.Status)
			}
		})
	}
}

// assertNoRefreshSecrets: no refresh token, nor its stored digest, in any log line.
func assertNoRefreshSecrets(t *testing.T, s *system, tokens ...string) {
	t.Helper()
	logs := s.userLogs.String() + s.propertyLogs.String()
	for _, tok := range tokens {
		if strings.Contains(logs, tok) || strings.Contains(logs, digestHex(tok)) {
			t.Fatal("a refresh token or its digest appears in the logs")
		}
	}
}

// Sessions end on logout, on a password change and on deactivation: their
// refresh tokens at once, their access tokens at once at the user service.
func TestSessionsEnd(t *testing.T) {
	for _, eng := range testenv.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			s := startSystem(t, eng)
			register(t, s, "bob@example.com", "bob password 12345")
			me := s.user + "/api/users/me"

			out, _ := login(t, s, "bob@example.com", "bob password 12345")
			other, _ := login(t, s, "bob@example.com", "bob password 12345") // a second device
			if r := testenv.Do(t, "POST", s.user+"/api/users/logout", nil, testenv.Bearer(out.Token)...); r.Status != 204 {
				t.Fatalf("logout: %d %s", r.Status, r.Body)
			}
			if _, r := refresh(t, s, out.RefreshToken); r.Status != 401 {
				t.Fatalf("refresh after logout: %d", r.Status)
			}
			if r := testenv.Do(t, "GET", me, nil, testenv.Bearer(out.Token)...); r.Status != 401 {
				t.Fatalf("access token after logout: %d", r.Status)
			}
			if r := testenv.Do(t, "GET", me, nil, testenv.Bearer(other.Token)...); r.Status != 200 {
				t.Fatalf("logout ended another device's session: %d", r.Status)
			}

			change := testenv.Do(t, "POST", s.user+"/api/users/change-password", map[string]string{
				"current_password": "bob password 12345", "new_password": "bob's new passphrase"}, testenv.Bearer(other.Token)...)
			if change.Status != 204 {
				t.Fatalf("change password: %d %s", change.Status, change.Body)
			}
			if _, r := refresh(t, s, other.RefreshToken); r.Status != 401 {
				t.Fatalf("refresh after a password change: %d", r.Status)
			}
			if r := testenv.Do(t, "GET", me, nil, testenv.Bearer(other.Token)...); r.Status != 401 {
				t.Fatalf("the access token from before the password change: %d", r.Status)
			}

			last, _ := login(t, s, "bob@example.com", "bob's new passphrase")
			var stdout, stderr bytes.Buffer
			code := user.Main(context.Background(), []string{"deactivate", "--email", "BOB@example.com"},
				mapEnv(s.userEnv), nil, &stdout, &stderr)
			if code != 0 || !strings.Contains(stdout.String(), "deactivated bob@example.com") {
				t.Fatalf("deactivate: %d %s %s", code, stdout.String(), stderr.String())
			}
			if _, r := refresh(t, s, last.RefreshToken); r.Status != 401 {
				t.Fatalf("refresh after deactivation: %d", r.Status)
			}
			if r := testenv.Do(t, "GET", me, nil, testenv.Bearer(last.Token)...); r.Status != 401 {
				t.Fatalf("access token after deactivation: %d", r.Status)
			}
			if _, r := login(t, s, "bob@example.com", "bob's new passphrase"); r.Status != 401 {
				t.Fatalf("login after deactivation: %d", r.Status)
			}
			assertNoRefreshSecrets(t, s, out.RefreshToken, other.RefreshToken, last.RefreshToken)
		})
	}
}

// Twenty refreshes with one token at the same moment: exactly one succeeds.
func TestConcurrentRefreshesWithOneTokenGiveOneSuccess(t *testing.T) {
	for _, eng := range testenv.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			s := startSystem(t, eng)
			register(t, s, "cat@example.com", "cat password 12345")
			first, _ := login(t, s, "cat@example.com", "cat password 12345")
			got := testenv.Burst(t, 20, func(int) (testenv.Response, error) {
				return testenv.Try("POST", s.user+"/api/users/refresh", map[string]string{"refresh_token": first.RefreshToken})
			})
			if got[200] != 1 || got[401] != 19 {
				t.Fatalf("20 concurrent refreshes with one token: %v, want exactly one 200", got)
			}
		})
	}
}

// Refresh tokens that are not this session's, truncated or forged are
// refused; guessing them spends the client IP's failed-refresh budget.
func TestBadRefreshTokensAreRefusedAndGuessingIsLimited(t *testing.T) {
	for _, eng := range testenv.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			s := startSystem(t, eng)
			register(t, s, "dan@example.com", "dan password 12345")
			register(t, s, "eve@example.com", "eve password 12345")
			dan, _ := login(t, s, "dan@example.com", "dan password 12345")
			eve, _ := login(t, s, "eve@example.com", "eve password 12345")
			for name, c := range map[string]struct {
				token   string
				headers []string
			}{
				"another user's, with my access token": {dan.RefreshToken, testenv.Bearer(eve.Token)},
				"last character changed":               {dan.RefreshToken[:42] + otherChar(dan.RefreshToken[42]), nil},
				"forged":                               {strings.Repeat("A", 43), nil},
			} {
				_, r := refresh(t, s, c.token, c.headers...)
				if r.Status != 401 {
					t.Fatalf("%s: %d %s", name, r.Status, r.Body)
				}
				if strings.Contains(string(r.Body), c.token) || strings.Contains(string(r.Body), digestHex(c.token)) {
					t.Fatalf("%s: the error echoes the refresh token", name)
				}
			}
			// The refused one was not spent: it still works for its own session.
			if _, r := refresh(t, s, dan.RefreshToken, testenv.Bearer(dan.Token)...); r.Status != 200 {
				t.Fatalf("dan's own token with dan's access token: %d", r.Status)
			}
			// Guessing reaches 429 (REFRESH_FAILURE_LIMIT_PER_IP, default 20).
			limited := 0
			for i := 0; i < 25; i++ {
				_, r := refresh(t, s, fmt.Sprintf("%043d", i))
				if r.Status == 429 {
					limited++
					if r.Header.Get("Retry-After") == "" {
						t.Fatal("429 without Retry-After")
					}
				}
			}
			if limited == 0 {
				t.Fatal("25 guessed refresh tokens never reached 429")
			}
			assertNoRefreshSecrets(t, s, dan.RefreshToken, eve.RefreshToken)
		})
	}
}

// digestHex is how the user service stores a refresh token (SHA-256, hex).
func digestHex(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// otherChar is a base64url character other than c (a changed token must differ).
func otherChar(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}
