package e2e

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/services/user"
)

// An operator can make the internal call a login makes, by hand, with the
// user service's own configuration and identity: `user-service call
// properties --user-id N` prints the answer and the request id that its
// audit line at the property service carries. In both INTERNAL_AUTH modes.
func TestCallPropertiesByHand(t *testing.T) {
	for _, mode := range []string{"token", "spiffe"} {
		t.Run(mode, func(t *testing.T) {
			s := startSystemWith(t, testenv.Engines(t)[0], map[string]string{"INTERNAL_AUTH": mode})
			const email, password = "ada@example.com", "correct horse battery staple"
			id := register(t, s, email, password)
			first, resp := login(t, s, email, password)
			if resp.Status != 200 {
				t.Fatalf("login: %d %s", resp.Status, resp.Body)
			}
			if r := testenv.Do(t, "POST", s.property+"/api/properties/", map[string]string{"name": "Seaside cottage"},
				testenv.Bearer(first.Token)...); r.Status != 201 {
				t.Fatalf("create property: %d %s", r.Status, r.Body)
			}
			env := map[string]string{}
			for k, v := range s.userEnv {
				env[k] = v
			}
			env["PROPERTY_SERVICE_URL"] = s.internal
			var out, errOut bytes.Buffer
			code := user.Main(context.Background(), []string{"call", "properties", "--user-id", fmt.Sprint(id)}, mapEnv(env),
				strings.NewReader(""), &out, &errOut)
			if code != 0 || !strings.Contains(out.String(), `"property_name": "Seaside cottage"`) ||
				!strings.Contains(out.String(), `"total_count": 1`) {
				t.Fatalf("call properties: exit %d\n%s\n%s", code, out.String(), errOut.String())
			}
			requestID := strings.TrimSpace(strings.TrimPrefix(strings.SplitN(out.String(), "\n", 2)[0], "request_id:"))
			found := false
			for _, line := range s.propertyLogs.Lines("internal call") {
				if line["request_id"] == requestID && line["caller"] == "user-service" && line["status"] == float64(200) {
					found = true
				}
			}
			if requestID == "" || !found {
				t.Fatalf("no audit line with request_id %q at the property service:\n%s", requestID, s.propertyLogs.String())
			}
			// A user id that is no user id is a usage error that makes no call.
			for _, bad := range [][]string{{"--user-id", "0"}, {"--user-id", "ada"}, {}} {
				out.Reset()
				errOut.Reset()
				before := len(s.propertyLogs.Lines("internal call"))
				code = user.Main(context.Background(), append([]string{"call", "properties"}, bad...), mapEnv(env),
					strings.NewReader(""), &out, &errOut)
				if code != 2 || !strings.Contains(errOut.String(), "user-id") || out.Len() != 0 ||
					len(s.propertyLogs.Lines("internal call")) != before {
					t.Fatalf("call properties %v: exit %d, stdout %q, stderr %q", bad, code, out.String(), errOut.String())
				}
			}
			// A wrong credential is refused, and says so without printing it.
			if mode == "token" {
				env["INTERNAL_SERVICE_TOKEN"] = strings.Repeat("w", 40)
				out.Reset()
				errOut.Reset()
				code = user.Main(context.Background(), []string{"call", "properties", "--user-id", fmt.Sprint(id)}, mapEnv(env),
					strings.NewReader(""), &out, &errOut)
				if code != 1 || strings.Contains(out.String()+errOut.String(), strings.Repeat("w", 40)) {
					t.Fatalf("call with a wrong token: exit %d\n%s\n%s", code, out.String(), errOut.String())
				}
			}
		})
	}
}
