package main

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// layer is a part of a call, named by the functions (regular expressions on
// callgrind's function names, package path first) whose own instructions
// belong to it; a function counts in the first layer that matches it.
// Callgrind's inclusive costs cannot be trusted for Go: its shadow call stack
// follows threads, not goroutines, so a goroutine switch inside a function
// charges it with another goroutine's work. Self costs are exact, so layers
// sum self costs. What a layer calls in the runtime (allocation, GC) shows in
// the runtime's row, for every target alike. A new layer is one more entry
// here, above the layer that would otherwise claim its package.
type layer struct {
	name string
	re   *regexp.Regexp
}

var layers = []layer{
	// The subject token's own checks (typ, claims, sub against the path, the
	// refusal bookkeeping); its signature and JSON parsing are golang-jwt's and
	// Ed25519's, in the next layer: internal_get verifies no other JWT, so
	// there that layer is the subject token's too (subjectRows).
	{subjectLayer, regexp.MustCompile(`^(github.com/jeeves4service/jeeves4service/internalauth/subject\.\(\*Verifier\)|` +
		`github.com/jeeves4service/jeeves4service/internalauth\.\(\*Guard\)\.authenticateSubject|` +
		`github.com/jeeves4service/jeeves4service/tools/bench/limit/handler\.subjectVerifier)`)},
	{"query: database/sql, SQLite, generated queries, repository",
		regexp.MustCompile(`^(database/sql|modernc\.org/|github.com/jeeves4service/jeeves4service/gen/db/|github.com/jeeves4service/jeeves4service/services/property/adapters|github.com/jeeves4service/jeeves4service/tools/bench/limit/handler\.scan)`)},
	{jwtLayer,
		regexp.MustCompile(`^(github\.com/golang-jwt/|github.com/jeeves4service/jeeves4service/services/common/jwtauth|crypto/ed25519|crypto/internal/fips140/(ed25519|edwards25519|sha512)|crypto/internal/fips140/edwards25519|encoding/base64)`)},
	{"SHA-256 and the token guard: crypto/sha256, crypto/subtle, internalauth",
		regexp.MustCompile(`^(github.com/jeeves4service/jeeves4service/internalauth|crypto/sha256|crypto/subtle|crypto/internal/fips140/(sha256|subtle))`)},
	{"validator: contract plans, kin-openapi", regexp.MustCompile(`^(github.com/jeeves4service/jeeves4service/services/common/validator|github\.com/getkin/)`)},
	{"audit/access line: logging, slog", regexp.MustCompile(`^(github.com/jeeves4service/jeeves4service/services/common/logging|log/slog|go\.uber\.org/zap)`)},
	{"response: handlers, generated strict handler, encoding/json",
		regexp.MustCompile(`^(encoding/json|github.com/jeeves4service/jeeves4service/gen/(internalapi|propertyapi)|github\.com/oapi-codegen/|github.com/jeeves4service/jeeves4service/services/property/(ports|app)|github.com/jeeves4service/jeeves4service/tools/bench/limit/handler)`)},
	{"routing and middleware: chi, request record, budgets, metrics",
		regexp.MustCompile(`^(github\.com/go-chi/|github.com/jeeves4service/jeeves4service/services/common/|github\.com/prometheus/|net/netip)`)},
	{"net/http, connection, headers", regexp.MustCompile(`^(net/|net\.|bufio|internal/poll|syscall|mime)`)},
	{"Go runtime: allocation, GC, maps, scheduler",
		regexp.MustCompile(`^(runtime|internal/runtime|internal/sync|sync|aeshash|memeqbody|cmpbody|indexbytebody|gogo|gosave)`)},
}

const (
	subjectLayer = "subject token's checks: SubjectVerifier, the guard's subject functions, the limit's subjectVerifier"
	jwtLayer     = "JWT verification: golang-jwt, jwtauth, Ed25519 (internal_get: the subject token's signature)"
)

// subjectRows are the layers that, in internal_get, are the subject token.
var subjectRows = []string{subjectLayer, jwtLayer}

const rest = "everything else: strings, strconv, time, context, fmt, reflect"

// readDump returns a callgrind dump's total instructions and each function's
// self cost, read from the dump itself: every cost line under fn= except the
// one after a calls= line (that is the call's inclusive cost). callgrind_annotate
// is not used: on Go it prints self costs no run can have.
func readDump(path string) (total int64, self map[string]int64, unattributed int64, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, nil, 0, fmt.Errorf("read dump: %w", err)
	}
	names := map[string]string{} // compressed "(id)" to name
	name := func(v string) string {
		v = strings.TrimSpace(v)
		if v[0] != '(' {
			return v
		}
		id, rest, _ := strings.Cut(v, ")")
		if rest = strings.TrimSpace(rest); rest != "" {
			names[id] = rest
		}
		return names[id]
	}
	self = map[string]int64{}
	var fn string
	var sum int64
	total = -1
	skip := false
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case line == "":
		case strings.HasPrefix(line, "fn="):
			fn = strings.TrimSuffix(name(line[3:]), "'2")
		case strings.HasPrefix(line, "cfn="):
			name(line[4:]) // defines the id for later lines
		case strings.HasPrefix(line, "calls="):
			skip = true
		case line[0] == '+' || line[0] == '-' || line[0] == '*' || (line[0] >= '0' && line[0] <= '9'):
			if skip {
				skip = false
				continue
			}
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			n, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return 0, nil, 0, fmt.Errorf("dump %s: %q: %w", path, line, err)
			}
			self[fn] += n
			sum += n
		case strings.HasPrefix(line, "totals:") || (strings.HasPrefix(line, "summary:") && total < 0):
			_, v, _ := strings.Cut(line, ":")
			if total, err = strconv.ParseInt(strings.Fields(v)[0], 10, 64); err != nil {
				return 0, nil, 0, fmt.Errorf("dump %s: %q: %w", path, line, err)
			}
		}
	}
	if total <= 0 {
		return 0, nil, 0, fmt.Errorf("dump %s: no totals line", path)
	}
	return total, self, total - sum, nil
}

// breakdown sums self costs into layers, per call.
func breakdown(self map[string]int64, unattributed int64, n int) map[string]int64 {
	out := map[string]int64{}
	for name, c := range self {
		l := rest
		for _, ly := range layers {
			if ly.re.MatchString(name) {
				l = ly.name
				break
			}
		}
		out[l] += c
	}
	if unattributed != 0 {
		out["unattributed (dump lines not read)"] += unattributed
	}
	for k := range out {
		out[k] /= int64(n)
	}
	return out
}

// layerNames is every layer in the order above, then the rest.
func layerNames(ms ...Measurement) []string {
	var names []string
	for _, l := range layers {
		names = append(names, l.name)
	}
	names = append(names, rest)
	for _, m := range ms {
		for k := range m.Layers {
			if !contains(names, k) {
				names = append(names, k)
			}
		}
	}
	return names
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
