package main

import (
	"context"
	"strings"
	"testing"

	"github.com/jeeves4service/jeeves4service"
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
	both := "      security:\n        - InternalToken: []\n          SubjectToken: []\n"
	mutations := map[string]string{
		"security: [] on the operation": strings.Replace(spec, both, "      security: []\n", 1),
		"undeclared scheme": strings.Replace(
			spec,
			both,
			"      security:\n        - InternalToken: []\n          Typo: []\n",
			1,
		),
		"anonymous alternative": strings.Replace(
			spec,
			both,
			both+"        - {}\n",
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
		"x-on-behalf-of any without its check": strings.Replace(spec, "        parameter: user_id\n",
			"        any: the caller decided whom to show\n", 1),
		"x-on-behalf-of check without any": strings.Replace(spec, "        parameter: user_id\n",
			"        parameter: user_id\n        check: members only\n", 1),
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

// An internal operation made for a user requires the subject token together
// with the workload credential, in its only security requirement; one made
// for nobody must not ask for one. Each mutation is caught by a rule (not by
// a parse error).
func TestChecksRequireTheSubjectTokenWithTheCredential(t *testing.T) {
	spec := string(jeeves4service.InternalSpec)
	both := "        - InternalToken: []\n          SubjectToken: []\n"
	mutations := map[string]string{
		"workload credential alone":          strings.Replace(spec, both, "        - InternalToken: []\n", 1),
		"subject token alone":                strings.Replace(spec, both, "        - SubjectToken: []\n", 1),
		"the two as alternatives":            strings.Replace(spec, both, "        - InternalToken: []\n        - SubjectToken: []\n", 1),
		"an alternative without the subject": strings.Replace(spec, both, both+"        - InternalToken: []\n", 1),
		"none but a subject token required": strings.Replace(spec, "        parameter: user_id\n",
			"        none: a batch job\n", 1),
		"subject scheme in another header": strings.Replace(spec, "      name: X-Subject-Token\n", "      name: X-Subject\n", 1),
		"subject scheme in a query":        strings.Replace(spec, "      in: header\n      name: X-Subject-Token\n", "      in: query\n      name: X-Subject-Token\n", 1),
		"a third scheme in the requirement": strings.Replace(strings.Replace(spec, both, both+"          Other: []\n", 1),
			"  securitySchemes:\n", "  securitySchemes:\n    Other:\n      type: apiKey\n      in: header\n      name: X-Other\n", 1),
	}
	for name, mutated := range mutations {
		if mutated == spec {
			t.Fatalf("%s: mutation did not apply", name)
		}
		problems, err := Check(context.Background(), []byte(mutated))
		if err != nil || len(problems) == 0 {
			t.Fatalf("%s: not caught by a rule (err %v)", name, err)
		}
	}
	// The forms that are allowed pass: any verified subject with the
	// callee's check named, and a call for nobody that asks for no subject
	// token.
	allowed := map[string]string{
		"any with its check": strings.Replace(spec, "        parameter: user_id\n",
			"        any: the subject's own list\n        check: ports.SeenMembers\n", 1),
		"none without a subject token": strings.Replace(strings.Replace(spec, "        parameter: user_id\n",
			"        none: a batch job\n", 1), both, "        - InternalToken: []\n", 1),
	}
	for name, mutated := range allowed {
		if problems, err := Check(context.Background(), []byte(mutated)); err != nil || len(problems) > 0 {
			t.Fatalf("%s: refused: %v %v", name, err, problems)
		}
	}
}
