package main

import (
	"context"
	"strings"
	"testing"

	"jeeves4service"
)

func TestProjectContractsKeepTheRules(t *testing.T) {
	for name, data := range map[string][]byte{"public": jeeves4service.PublicSpec, "internal": jeeves4service.InternalSpec} {
		problems, err := Check(context.Background(), data)
		if err != nil || len(problems) > 0 {
			t.Fatalf("%s: %v %v", name, err, problems)
		}
	}
}

// The checks catch the mistakes that silently open an internal endpoint.
func TestChecksCatchOpenedInternalOperations(t *testing.T) {
	spec := string(jeeves4service.InternalSpec)
	mutations := map[string]string{
		"security: [] on the operation": strings.Replace(spec, "      security:\n        - InternalToken: []\n", "      security: []\n", 1),
		"undeclared scheme": strings.Replace(
			spec,
			"      security:\n        - InternalToken: []\n",
			"      security:\n        - Typo: []\n",
			1,
		),
		"anonymous alternative": strings.Replace(
			spec,
			"      security:\n        - InternalToken: []\n",
			"      security:\n        - InternalToken: []\n        - {}\n",
			1,
		),
		"no allowed callers":    strings.Replace(spec, "      x-allowed-callers: [user-service]\n", "", 1),
		"empty allowed callers": strings.Replace(spec, "      x-allowed-callers: [user-service]\n", "      x-allowed-callers: []\n", 1),
		"allowed callers not names": strings.Replace(spec, "      x-allowed-callers: [user-service]\n",
			"      x-allowed-callers: user-service\n", 1),
		"no x-on-behalf-of": strings.Replace(spec, "      x-on-behalf-of:\n        parameter: user_id\n", "", 1),
		"x-on-behalf-of names no path parameter": strings.Replace(spec, "        parameter: user_id\n",
			"        parameter: limit\n", 1),
		"x-on-behalf-of with two answers": strings.Replace(spec, "        parameter: user_id\n",
			"        parameter: user_id\n        any: whoever\n", 1),
		"x-on-behalf-of without a reason": strings.Replace(spec, "        parameter: user_id\n", "        none: ''\n", 1),
	}
	for name, mutated := range mutations {
		if mutated == spec {
			t.Fatalf("%s: mutation did not apply", name)
		}
		problems, err := Check(context.Background(), []byte(mutated))
		if err == nil && len(problems) == 0 {
			t.Fatalf("%s: not caught", name)
		}
	}
}
