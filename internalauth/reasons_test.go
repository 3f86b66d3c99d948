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

// Reasons is the closed set the refusal counter is created with: every
// label exists from the start, so the guessing alert sees a first burst. It
// is kept by hand (guard.go's reasons); this reads the package's source for
// every reason a refusal can carry and requires the two to match, both
// ways. A reason is a string literal
//   - passed as the reason of g.refuse (5th argument) or g.spend (7th),
//   - assigned to d.reason or d.refusal, or to a variable named reason,
//   - passed to authenticateSubject's fail closure (which sets d.reason),
//   - or returned beside a caller and an error by a check (return x, "reason", err).
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
			case *ast.AssignStmt: // d.reason = "x", d.refusal = "x", reason = "x"
				for i, lhs := range n.Lhs {
					if i < len(n.Rhs) && isReasonTarget(lhs) {
						addLiteral(found, n.Rhs[i])
					}
				}
			case *ast.CallExpr:
				switch fun := n.Fun.(type) {
				case *ast.SelectorExpr: // g.refuse(w, r, d, status, "reason", ...), g.spend(w, r, d, l, name, key, "reason", ...)
					if fun.Sel.Name == "refuse" && len(n.Args) == 7 {
						addLiteral(found, n.Args[4])
					} else if fun.Sel.Name == "spend" && len(n.Args) == 8 {
						addLiteral(found, n.Args[6])
					}
				case *ast.Ident: // fail("reason")
					if fun.Name == "fail" && len(n.Args) == 1 {
						addLiteral(found, n.Args[0])
					}
				}
			}
			return true
		})
	}
	if len(found) < 15 {
		t.Fatalf("found only %v in the source: the test no longer reads it right", found)
	}
	reasons := internalauth.Reasons()
	for reason := range found {
		if !slices.Contains(reasons, reason) {
			t.Errorf("reason %q can be returned but is not in internalauth.Reasons()", reason)
		}
	}
	for _, reason := range reasons {
		if !found[reason] {
			t.Errorf("internalauth.Reasons() lists %q, which nothing returns", reason)
		}
	}
	if len(slices.Compact(slices.Sorted(slices.Values(reasons)))) != len(reasons) {
		t.Errorf("internalauth.Reasons() lists a reason twice: %v", reasons)
	}
}

// isReasonTarget: d.reason, d.refusal, or a variable named reason.
func isReasonTarget(e ast.Expr) bool {
	switch e := e.(type) {
	case *ast.SelectorExpr:
		x, ok := e.X.(*ast.Ident)
		return ok && x.Name == "d" && (e.Sel.Name == "reason" || e.Sel.Name == "refusal")
	case *ast.Ident:
		return e.Name == "reason"
	}
	return false
}

func addLiteral(found map[string]bool, e ast.Expr) {
	if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
		if s, err := strconv.Unquote(lit.Value); err == nil && s != "" {
			found[s] = true
		}
	}
}
