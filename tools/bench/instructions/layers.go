package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// layer is a part of a call, named by the functions that enter it. Its cost
// is, for each entry pattern, the largest inclusive cost of a function that
// matches it (the outermost one), summed over the patterns. A new layer (a
// subject-token check, say) is one more entry in a target's list; what no
// layer claims shows up as "everything else".
type layer struct {
	name    string
	entries []string // regular expressions on callgrind's function names
}

var (
	// The service's internal call.
	internalLayers = []layer{
		{"claims query (ListUserClaims through database/sql)", []string{`propertysqlite\.\(\*Queries\)\.ListUserClaims$`}},
		{"response (generated strict handler's writer)", []string{`internalapi\.GetUserProperties200JSONResponse\.Visit`}},
		{"audit/access line (logging)", []string{`services/common/logging\.WriteAccess$`}},
		{"validator + token guard", []string{`services/common/validator\.\(\*validating\)\.check$`}},
		{"routing (chi)", []string{`go-chi/chi/v5\.\(\*node\)\.FindRoute$`}},
	}
	// The limit's internal call.
	limitLayers = []layer{
		{"claims query (database/sql)", []string{`limit/handler\.scan$`}},
		{"response (encoding/json)", []string{`encoding/json\.\(\*Encoder\)\.Encode$`}},
		{"audit line (slog JSON)", []string{`log/slog\.\(\*Logger\)\.LogAttrs$`}},
		{"token check (sha256, crypto/subtle)", []string{`crypto/sha256\.Sum256$`, `crypto/subtle\.ConstantTimeCompare$`}},
	}
	// The service's public read.
	publicLayers = []layer{
		{"query (ListMemberships through database/sql)", []string{`propertysqlite\.\(\*Queries\)\.ListMemberships$`}},
		{"JWT verification", []string{`services/common/jwtauth\.\(\*Verifier\)\.check$`}},
		{"access line (logging)", []string{`services/common/logging\.WriteAccess$`}},
		{"validator", []string{`services/common/validator\.\(\*validating\)\.check$`}},
		{"routing (chi)", []string{`go-chi/chi/v5\.\(\*node\)\.FindRoute$`}},
	}
	publicLimitLayers = []layer{
		{"query (database/sql)", []string{`limit/handler\.scan$`}},
		{"JWT verification (golang-jwt)", []string{`golang-jwt/jwt/v5\.\(\*Parser\)\.ParseWithClaims$`}},
		{"response (encoding/json)", []string{`encoding/json\.\(\*Encoder\)\.Encode$`}},
	}
)

const rest = "everything else (net/http, runtime, GC, budgets, metrics, request record)"

// readDump returns a callgrind dump's total instructions and each function's
// inclusive cost (callgrind_annotate --inclusive=yes).
func readDump(path string) (int64, map[string]int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, nil, fmt.Errorf("read dump: %w", err)
	}
	var total int64 = -1
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "totals:"); ok {
			total, err = strconv.ParseInt(strings.Fields(v)[0], 10, 64)
		} else if v, ok := strings.CutPrefix(line, "summary:"); ok && total < 0 {
			total, err = strconv.ParseInt(strings.Fields(v)[0], 10, 64)
		}
		if err != nil {
			return 0, nil, fmt.Errorf("dump %s: %q: %w", path, line, err)
		}
	}
	if total <= 0 {
		return 0, nil, fmt.Errorf("dump %s: no totals line", path)
	}
	out, err := exec.Command("callgrind_annotate", "--inclusive=yes", "--threshold=100", path).Output()
	if err != nil {
		return 0, nil, fmt.Errorf("callgrind_annotate %s: %w", path, err)
	}
	fns := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if m := annotated.FindStringSubmatch(sc.Text()); m != nil {
			n, _ := strconv.ParseInt(strings.ReplaceAll(m[1], ",", ""), 10, 64)
			if n > fns[m[2]] {
				fns[m[2]] = n
			}
		}
	}
	return total, fns, sc.Err()
}

// annotated is one line of callgrind_annotate: "1,234 (5.6%)  file:function [object]".
var annotated = regexp.MustCompile(`^\s*([\d,]+)\s+(?:\([\d.]+%\)\s+)?[^:\s]*:(\S.*?)(?:\s+\[[^\]]*\])?$`)

func breakdown(layers []layer, fns map[string]int64, total int64, n int) map[string]int64 {
	out := map[string]int64{}
	var claimed int64
	for _, l := range layers {
		var cost int64
		for _, e := range l.entries {
			re := regexp.MustCompile(e)
			var most int64
			for name, c := range fns {
				if re.MatchString(name) && c > most {
					most = c
				}
			}
			cost += most
		}
		out[l.name] = cost / int64(n)
		claimed += cost
	}
	out[rest] = (total - claimed) / int64(n)
	return out
}

// layerNames orders a breakdown by cost, the rest last.
func layerNames(m map[string]int64) []string {
	var names []string
	for k := range m {
		if k != rest {
			names = append(names, k)
		}
	}
	sort.Slice(names, func(i, j int) bool { return m[names[i]] > m[names[j]] })
	return append(names, rest)
}
