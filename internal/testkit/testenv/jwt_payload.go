package testenv

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

// Payload decodes a JWT's claims into v without checking its signature
// (verifying is the services' business; tests read what was signed).
func Payload(t testing.TB, token string, v any) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	data, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("JWT payload: %v", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("JWT payload: %v", err)
	}
}
