package user_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/jeeves4service/jeeves4service/services/common/config"
	"github.com/jeeves4service/jeeves4service/services/user"
)

// JWT_MAX_BYTES (issue 25, item 2): 4 KiB by default; a value that could not
// hold a token without property claims, or that proxies would refuse, stops
// the service at start with an error naming the variable.
func TestTokenByteBudgetConfiguration(t *testing.T) {
	load := func(vars map[string]string) (user.Config, error) {
		vars["INTERNAL_SERVICE_TOKEN"], vars["PROPERTY_SERVICE_TOKEN"] = token, propertyToken
		return user.LoadConfig(func(k string) string { return vars[k] })
	}
	cfg, err := load(map[string]string{})
	if err != nil || cfg.MaxTokenBytes != user.DefaultMaxTokenBytes || user.DefaultMaxTokenBytes != 4096 {
		t.Fatalf("default: %d (%v)", cfg.MaxTokenBytes, err)
	}
	for _, v := range []string{"3000", "8000"} {
		if cfg, err := load(map[string]string{"JWT_MAX_BYTES": v}); err != nil || cfg.MaxTokenBytes == 0 {
			t.Fatalf("JWT_MAX_BYTES=%s: %v", v, err)
		}
	}
	for _, c := range []struct{ value, issuer, says string }{
		{"lots", "", "positive integer"},
		{"0", "", "positive integer"},
		{"-4096", "", "positive integer"},
		{"4 KiB", "", "positive integer"},
		{"500", "", "at least"},
		{"2000", "", "at least"},
		{"8001", "", "at most 8000"},
		{"1048576", "", "at most 8000"},
		// An issuer this long leaves the default no room for the longest email.
		{"", strings.Repeat("i", 1200), "at least"},
	} {
		vars := map[string]string{"JWT_MAX_BYTES": c.value}
		if c.issuer != "" {
			vars["JWT_ISSUER"] = c.issuer
		}
		_, err := load(vars)
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Var != "JWT_MAX_BYTES" || !strings.Contains(ce.Problem, c.says) {
			t.Fatalf("JWT_MAX_BYTES=%q (issuer of %d characters): %v, want an error naming it that says %q", c.value,
				len(c.issuer), err, c.says)
		}
	}
}
