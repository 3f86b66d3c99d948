package user_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/internalauth"
	"github.com/jeeves4service/jeeves4service/services/user"
)

// exchangeAt asks e's exchange, as the property service, for a subject
// token for the user of access.
func exchangeAt(t *testing.T, e *env, access string) testenv.Response {
	t.Helper()
	return testenv.Do(t, "POST", "http://"+e.svc.Server.Addr("internal")+"/api/internal/users/subject-tokens",
		map[string]string{"grant_type": internalauth.GrantTokenExchange, "subject_token": access,
			"subject_token_type": internalauth.TokenTypeJWT, "audience": "user-service", "scope": "getUserProfiles"},
		internalauth.Header, propertyToken)
}

// Issue 33: the exchange budget of a user and operation holds across
// replicas that share Redis, as the other budgets do: a caller spreading
// its exchanges over two instances gets the one budget, not two.
func TestExchangeBudgetIsSharedAcrossInstancesThroughRedis(t *testing.T) {
	redisURL := testenv.RedisURL(t)
	fake := newFake(t, goodAnswer)
	for _, eng := range testenv.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			vars := map[string]string{"INTERNAL_EXCHANGE_LIMIT": "3/1h", "REDIS_URL": redisURL,
				"REDIS_KEY_PREFIX": testenv.RandomPrefix(), "JWT_SIGNING_KEY_FILE": filepath.Join(t.TempDir(), "shared.pem")}
			dbURL := eng.NewURL(t)
			a := start(t, dbURL, fake.srv.URL, vars)
			b := start(t, dbURL, fake.srv.URL, vars)
			a.register(t, "shared@example.com")
			access, _ := a.login(t, "shared@example.com")
			for i, e := range []*env{a, b, a} {
				if r := exchangeAt(t, e, access.Token); r.Status != 200 {
					t.Fatalf("exchange %d within the shared budget: %d %s", i, r.Status, r.Body)
				}
			}
			for name, e := range map[string]*env{"a": a, "b": b} {
				if r := exchangeAt(t, e, access.Token); r.Status != 429 || r.Header.Get("Retry-After") == "" {
					t.Fatalf("instance %s after 3 shared exchanges: %d %s", name, r.Status, r.Body)
				}
			}
		})
	}
}

// INTERNAL_EXCHANGE_LIMIT defaults to 10 a minute and cannot be turned
// off: the exchange mints credentials.
func TestExchangeLimitVariable(t *testing.T) {
	base := map[string]string{"INTERNAL_SERVICE_TOKEN": token, "PROPERTY_SERVICE_TOKEN": propertyToken}
	get := func(extra map[string]string) func(string) string {
		return func(k string) string {
			if v, ok := extra[k]; ok {
				return v
			}
			return base[k]
		}
	}
	cfg, err := user.LoadConfig(get(nil))
	if err != nil || cfg.ExchangeLimit != user.DefaultExchangeLimit || user.DefaultExchangeLimit.String() != "10/1m0s" {
		t.Fatalf("the default: %v %v", cfg.ExchangeLimit, err)
	}
	if cfg, err := user.LoadConfig(get(map[string]string{"INTERNAL_EXCHANGE_LIMIT": "30/1m"})); err != nil ||
		cfg.ExchangeLimit.Count != 30 {
		t.Fatalf("30/1m: %v %v", cfg.ExchangeLimit, err)
	}
	for _, bad := range []string{"off", "0/1m", "ten"} {
		if _, err := user.LoadConfig(get(map[string]string{"INTERNAL_EXCHANGE_LIMIT": bad})); err == nil ||
			!strings.Contains(err.Error(), "INTERNAL_EXCHANGE_LIMIT") {
			t.Fatalf("INTERNAL_EXCHANGE_LIMIT=%s: %v, want refused", bad, err)
		}
	}
}
