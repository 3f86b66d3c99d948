package internalauth_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jeeves4service/jeeves4service/internalauth"
)

// Reasons is the closed set the rejection counter is created with: every
// label exists from the start, so the guessing alert sees a first burst. It
// is kept by hand; this reads the package's source for every reason a
// refusal can carry (the string a check returns beside its error, or the one
// passed to rejected) and requires the two to match, both ways.
func TestReasonsListsEveryRefusalReason(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.ReturnStmt: // return who, "reason", err
				if len(n.Results) == 3 {
					addLiteral(found, n.Results[1])
				}
			case *ast.CallExpr: // g.rejected("reason"), g.refuseSubject(ctx, r, "reason", err)
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "rejected" && len(n.Args) == 1 {
					addLiteral(found, n.Args[0])
				} else if ok && sel.Sel.Name == "refuseSubject" && len(n.Args) == 4 {
					addLiteral(found, n.Args[2])
				}
			}
			return true
		})
	}
	if len(found) < 5 {
		t.Fatalf("found only %v in the source: the test no longer reads it right", found)
	}
	for reason := range found {
		if !slices.Contains(internalauth.Reasons, reason) {
			t.Errorf("reason %q can be returned but is not in internalauth.Reasons", reason)
		}
	}
	for _, reason := range internalauth.Reasons {
		if !found[reason] {
			t.Errorf("internalauth.Reasons lists %q, which nothing returns", reason)
		}
	}
}

func addLiteral(found map[string]bool, e ast.Expr) {
	if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
		if s, err := strconv.Unquote(lit.Value); err == nil && s != "" {
			found[s] = true
		}
	}
}
