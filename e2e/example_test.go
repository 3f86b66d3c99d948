package e2e

// Issue 35, the examples/ part: a third service, examples/households (a Go
// module of its own), adopts the internalauth library with nothing but its
// contract and the token service's configuration. Here it runs as its own
// binary next to the real user and property services; its caller,
// household-app, gets subject tokens from the real user service's exchange.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jeeves4service/jeeves4service/internal/testkit/testenv"
	"github.com/jeeves4service/jeeves4service/internalauth"
	"github.com/jeeves4service/jeeves4service/tools/procs"
)

const (
	// householdAppToken is household-app's token at the user service
	// (USER_INTERNAL_TOKENS), for the exchange.
	householdAppToken = "e2e-household-app-at-users-0123456789abcdef"
	// householdsAppSecret and reportingJobSecret are the callers' tokens
	// at the households service (HOUSEHOLDS_TOKENS): one token per callee.
	householdsAppSecret = "e2e-household-app-at-households-0123456789"
	reportingJobSecret  = "e2e-reporting-job-at-households-0123456789"
)

// exampleDir is the example's module, from this package's directory.
const exampleDir = "../examples/households"

// buildExample builds the example's two commands (households and
// household-app) with the go command, in the example's own module, and
// returns the directory holding them.
func buildExample(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build examples/households: %v", err)
	}
	bin := t.TempDir()
	cmd := exec.Command(goTool, "build", "-o", bin+string(filepath.Separator), "./...")
	cmd.Dir = exampleDir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./... in %s: %v\n%s", exampleDir, err, out)
	}
	return bin
}

func TestExampleHouseholdsWithTheRealServices(t *testing.T) {
	contract, err := filepath.Abs(filepath.Join(exampleDir, "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	bin := buildExample(t)
	// The token service's side of the adoption: household-app's token, and
	// the contract whose x-allowed-callers may exchange for its operations.
	s := startSystemWith(t, testenv.Engines(t)[0], map[string]string{"INTERNAL_AUTH": "token",
		"USER_INTERNAL_TOKENS":        "household-app=" + householdAppToken,
		"INTERNAL_EXCHANGE_CONTRACTS": "households-service=" + contract})
	households, addrs, err := procs.StartOn("households", filepath.Join(bin, "households"), 1,
		func(addrs []string) (map[string]string, []string) {
			return map[string]string{"HOUSEHOLDS_ADDR": addrs[0],
				"HOUSEHOLDS_TOKENS": "household-app=" + householdsAppSecret + ",reporting-job=" + reportingJobSecret,
				"SUBJECT_JWKS_URL":  s.user + "/.well-known/jwks.json", "SUBJECT_ISSUER": s.jwt.Issuer,
			}, []string{"http://" + addrs[0] + "/healthz"}
		})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(households.Stop)
	householdOf := func(id int64) string { return fmt.Sprintf("http://%s/api/internal/households/users/%d", addrs[0], id) }

	const pw = "correct horse battery staple"
	adaID, bobID := register(t, s, "ada@example.com", pw), register(t, s, "bob@example.com", pw)
	ada, _ := login(t, s, "ada@example.com", pw)
	bob, _ := login(t, s, "bob@example.com", pw)

	// household-app, with Ada's access token: it exchanges, then calls. 200.
	app := func(user int64, access string) (string, error) {
		cmd := exec.Command(filepath.Join(bin, "household-app"), fmt.Sprint(user))
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "USER_SERVICE_URL=" + s.userInternal,
			"USER_SERVICE_TOKEN=" + householdAppToken, "HOUSEHOLDS_URL=http://" + addrs[0],
			"HOUSEHOLDS_TOKEN=" + householdsAppSecret, "ACCESS_TOKEN=" + access}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			return stdout.String(), fmt.Errorf("household-app %d: %w: %s", user, err, stderr.String())
		}
		return stdout.String(), nil
	}
	out, err := app(adaID, ada.Token)
	if err != nil {
		t.Fatal(err)
	}
	var household struct {
		UserID  int64   `json:"user_id"`
		Members []int64 `json:"members"`
	}
	if err := json.Unmarshal([]byte(out), &household); err != nil || household.UserID != adaID || len(household.Members) == 0 {
		t.Fatalf("household-app for Ada: %q (%v), want her household", out, err)
	}
	// With Bob's access token it cannot read Ada's household: the exchange
	// issues a token for Bob, which the client does not send for Ada.
	if out, err := app(adaID, bob.Token); err == nil || !strings.Contains(err.Error(), "another subject") {
		t.Fatalf("household-app for Ada with Bob's access token: %q, %v; want the token for another subject refused", out, err)
	}

	// The refusals, by hand: what a stolen credential or a confused caller gets.
	exchange := func(access string) string {
		t.Helper()
		r := testenv.Do(t, "POST", s.userInternal+"/api/internal/users/subject-tokens", map[string]string{
			"grant_type": internalauth.GrantTokenExchange, "subject_token": access, "subject_token_type": internalauth.TokenTypeJWT,
			"audience": "households-service", "scope": "getHousehold"},
			internalauth.Header, householdAppToken)
		var answer struct {
			AccessToken string `json:"access_token"`
		}
		if r.Status != 200 {
			t.Fatalf("household-app's exchange: %d %s", r.Status, r.Body)
		}
		r.JSON(t, &answer)
		return answer.AccessToken
	}
	adaSubject, bobSubject := exchange(ada.Token), exchange(bob.Token)
	for _, c := range []struct {
		name    string
		url     string
		want    int
		headers []string
	}{
		{"Bob's subject token for Bob (the control)", householdOf(bobID), 200,
			[]string{internalauth.Header, householdsAppSecret, internalauth.SubjectHeader, bobSubject}},
		{"household-app's credential alone", householdOf(adaID), 401, []string{internalauth.Header, householdsAppSecret}},
		{"Bob's subject token for Ada", householdOf(adaID), 403,
			[]string{internalauth.Header, householdsAppSecret, internalauth.SubjectHeader, bobSubject}},
		// reporting-job's token is accepted, but x-allowed-callers does not name it.
		{"reporting-job, with Ada's subject token", householdOf(adaID), 403,
			[]string{internalauth.Header, reportingJobSecret, internalauth.SubjectHeader, adaSubject}},
	} {
		// Unchecked: the example's contract is none of the root's.
		r := testenv.DoUnchecked(t, "GET", c.url, nil, c.headers...)
		if r.Status != c.want || (c.want != 200 && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/problem+json")) {
			t.Errorf("%s: %d %s %s, want %d", c.name, r.Status, r.Header.Get("Content-Type"), r.Body, c.want)
		}
	}
}

// The example adopts the library without the services knowing of it: no
// file under services/ names it.
func TestExampleHouseholdsIsUnknownToTheServices(t *testing.T) {
	err := filepath.WalkDir("../services", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		// Its names, not the word: a comment in the property service
		// speaks of a household inviting its members.
		for _, name := range []string{"households", "household-app", "gethousehold"} {
			if bytes.Contains(bytes.ToLower(data), []byte(name)) {
				t.Errorf("%s names the households example (%q)", path, name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
