package main

import (
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"github.com/jeeves4service/jeeves4service/internal/testkit/notrun"
)

// The repository root, from this package's directory.
const repoRoot = "../.."

const guidePath = "docs/adding-an-internal-endpoint.md"

// guideStep is one block of the guide its test follows: lines to insert
// into a file of the repository after one of its lines, or a Go file to add.
type guideStep struct {
	into, after string // the file and its line the block goes after (insertions)
	file        string // the file's path in the repository (new files)
	body        string
}

var guideBlock = regexp.MustCompile("(?ms)^<!-- guide-test: (?:insert into (\\S+) after `([^`]*)`|file (\\S+)) -->\n```[a-z]*\n(.*?)^```")

func guideSteps(t *testing.T) []guideStep {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, guidePath))
	if err != nil {
		t.Fatal(err)
	}
	var steps []guideStep
	for _, m := range guideBlock.FindAllStringSubmatch(string(data), -1) {
		steps = append(steps, guideStep{into: m[1], after: m[2], file: m[3], body: m[4]})
	}
	return steps
}

// insertAfter puts block after the first line of doc (the file called name) equal to line.
func insertAfter(t *testing.T, name, doc, line, block string) string {
	t.Helper()
	lines := strings.SplitAfter(doc, "\n")
	for i, l := range lines {
		if strings.TrimRight(l, "\n") == line {
			return strings.Join(lines[:i+1], "") + block + strings.Join(lines[i+1:], "")
		}
	}
	t.Fatalf("the guide inserts after %q, which %s has no line for", line, name)
	return ""
}

// exported is the Go name oapi-codegen gives an operationId.
func exported(id string) string {
	r := []rune(id)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

// methodsOf returns the method names of the interface type called name in file.
func methodsOf(file *ast.File, name string) map[string]bool {
	out := map[string]bool{}
	ast.Inspect(file, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok || ts.Name.Name != name {
			return true
		}
		if it, ok := ts.Type.(*ast.InterfaceType); ok {
			for _, m := range it.Methods.List {
				for _, id := range m.Names {
					out[id.Name] = true
				}
			}
		}
		return false
	})
	return out
}

// The guide to adding an internal endpoint, followed step by step on
// throwaway copies: its contract entry passes speclint, oapi-codegen (the
// repository's configuration) generates the new server method and client
// call from it, and both services compile with the generated code and the
// guide's handler and client in place (go build -overlay: the tree is not
// touched).
func TestAddingAnInternalEndpointFollowsTheGuide(t *testing.T) {
	steps := guideSteps(t)
	edited := map[string]string{} // the files the guide changes, as it leaves them
	var files []guideStep
	for _, s := range steps {
		if s.file != "" {
			files = append(files, s)
			continue
		}
		if _, ok := edited[s.into]; !ok {
			data, err := os.ReadFile(filepath.Join(repoRoot, s.into))
			if err != nil {
				t.Fatal(err)
			}
			edited[s.into] = string(data)
		}
		edited[s.into] = insertAfter(t, s.into, edited[s.into], s.after, s.body)
	}
	spec, ok := edited["openapi-internal.yaml"]
	if !ok || len(files) < 2 {
		t.Fatalf("the guide has %d insertions into openapi-internal.yaml and %d files marked guide-test; "+
			"want the contract entry, the handler and the client", len(steps)-len(files), len(files))
	}
	var op string // the operation the guide adds
	for _, s := range steps {
		if m := regexp.MustCompile(`(?m)^\s+operationId:\s*(\w+)`).FindStringSubmatch(s.body); s.into == "openapi-internal.yaml" && m != nil {
			op = m[1]
		}
	}
	if op == "" {
		t.Fatal("the guide's contract blocks add no operationId")
	}

	// Step 1: make lint's contract rules.
	problems, err := Check(context.Background(), []byte(spec))
	if err != nil {
		t.Fatalf("the contract with the guide's entry does not load: %v", err)
	}
	for _, p := range problems {
		t.Errorf("speclint refuses the guide's entry: %s", p)
	}

	nodeLint(t, edited)

	// Step 2: make generate, with api/internalapi.yaml writing to a temporary file.
	dir := t.TempDir()
	specFile, genFile, cfgFile := filepath.Join(dir, "openapi-internal.yaml"), filepath.Join(dir, "internalapi.gen.go"),
		filepath.Join(dir, "internalapi.yaml")
	cfg, err := os.ReadFile(filepath.Join(repoRoot, "api/internalapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	outLine := regexp.MustCompile(`(?m)^output: .*$`)
	if !outLine.Match(cfg) {
		t.Fatal("api/internalapi.yaml has no output: line to redirect")
	}
	write(t, specFile, spec)
	write(t, cfgFile, outLine.ReplaceAllLiteralString(string(cfg), "output: "+genFile))
	run(t, "go", "tool", "oapi-codegen", "-config", cfgFile, specFile)
	parsed, err := parser.ParseFile(token.NewFileSet(), genFile, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatalf("generated code does not parse: %v", err)
	}
	if !methodsOf(parsed, "StrictServerInterface")[exported(op)] {
		t.Errorf("the generated StrictServerInterface has no %s", exported(op))
	}
	if !methodsOf(parsed, "ClientWithResponsesInterface")[exported(op)+"WithResponse"] {
		t.Errorf("the generated client has no %sWithResponse", exported(op))
	}

	// Steps 3 and 4: the handler and the client call compile against it, in both services.
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	replace := map[string]string{filepath.Join(root, "gen/internalapi/internalapi.gen.go"): genFile}
	for _, f := range files {
		path := filepath.Join(dir, filepath.Base(f.file))
		write(t, path, f.body)
		replace[filepath.Join(root, f.file)] = path
	}
	// Go files the guide inserts into (the wiring: a method added to an
	// interface) compile as the guide leaves them, or the build fails.
	for name, text := range edited {
		if strings.HasSuffix(name, ".go") {
			path := filepath.Join(dir, "edited-"+strings.ReplaceAll(name, "/", "-"))
			write(t, path, text)
			replace[filepath.Join(root, name)] = path
		}
	}
	overlay, err := json.Marshal(map[string]any{"Replace": replace})
	if err != nil {
		t.Fatal(err)
	}
	overlayFile := filepath.Join(dir, "overlay.json")
	write(t, overlayFile, string(overlay))
	run(t, "go", "build", "-overlay", overlayFile, "./services/property", "./services/property/ports",
		"./services/user", "./services/user/adapters")
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// run runs a go command in the repository root.
func run(t *testing.T, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// nodeLint runs the rest of make lint on the contract as the guide leaves it:
// Spectral (with .spectral.yaml as the guide leaves it) and Redocly, in a
// directory of their own. Without the Node tools it says so, as make lint
// does; under CI=true they must be there.
func nodeLint(t *testing.T, edited map[string]string) {
	t.Helper()
	bin, err := filepath.Abs(filepath.Join(repoRoot, "node_modules"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(bin, ".bin", "spectral")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("spectral is not installed but CI=true: %v", err)
		}
		notrun.Record(t, notrun.NodeLint)
		return
	}
	dir := t.TempDir()
	for _, name := range []string{"openapi-internal.yaml", ".spectral.yaml", "redocly.yaml"} {
		data, ok := edited[name]
		if !ok {
			raw, err := os.ReadFile(filepath.Join(repoRoot, name))
			if err != nil {
				t.Fatal(err)
			}
			data = string(raw)
		}
		write(t, filepath.Join(dir, name), data)
	}
	if err := os.Symlink(bin, filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"node_modules/.bin/spectral", "lint", "--fail-severity=warn", "openapi-internal.yaml"},
		{"node_modules/.bin/redocly", "lint", "--format=stylish", "openapi-internal.yaml"},
	} {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s refuses the contract with the guide's entry: %v\n%s", filepath.Base(args[0]), err, out)
		}
	}
}
