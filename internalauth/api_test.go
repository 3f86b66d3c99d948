package internalauth_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/jeeves4service/jeeves4service/internalauth"
)

// Issue 35, defect 3: the old Guard embedded its checker, so checker.Match
// was promoted to an exported Guard.Match: an oracle that told whether a
// token was right without spending the failure budget, logging or telling
// the hooks. *Guard now exports Handler and nothing else.
func TestGuardExportsOnlyHandler(t *testing.T) {
	typ := reflect.TypeOf(&internalauth.Guard{})
	var names []string
	for i := range typ.NumMethod() {
		names = append(names, typ.Method(i).Name)
	}
	if typ.NumMethod() != 1 || names[0] != "Handler" {
		t.Fatalf("*internalauth.Guard exports %v, want only Handler", names)
	}
	// Nor an exported field through which a checker could be reached.
	for i := range typ.Elem().NumField() {
		if f := typ.Elem().Field(i); f.IsExported() || f.Anonymous {
			t.Errorf("Guard has the field %s (exported or embedded)", f.Name)
		}
	}
}

// Issue 35, defect 3: no exported function or method of the package
// compares a presented secret outside the guard, except Token.Matches.
//
// This reads the package's source and follows, by name, every function and
// method each one refers to (a method by its name whatever its receiver:
// the graph over-approximates, which is the safe side), down to a constant-
// time comparison (crypto/subtle, crypto/hmac). The exported ones that reach
// one must be exactly Guard.Handler (the guard itself: every comparison
// there spends the failure budget first, and is logged and told to the
// hooks) and Token.Matches. Token.Matches is no oracle: it compares a secret
// with one Token's digest, and only the holder of that Token value (the
// configuration that built it, with the secret) can ask it; whoever holds
// the Token already holds what the guard compares against, so it learns
// nothing a guess at the guard would.
func TestOnlyTokenMatchesComparesASecret(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	type fn struct {
		recv, name string
		refs       map[string]bool // names referred to in the body
		sink       bool            // calls a comparison itself
	}
	var fns []*fn
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			d, ok := decl.(*ast.FuncDecl)
			if !ok || d.Body == nil {
				continue
			}
			x := &fn{name: d.Name.Name, refs: map[string]bool{}}
			if d.Recv != nil && len(d.Recv.List) == 1 {
				x.recv = receiverName(d.Recv.List[0].Type)
			}
			ast.Inspect(d.Body, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.SelectorExpr:
					if pkg, ok := n.X.(*ast.Ident); ok && (pkg.Name == "subtle" || pkg.Name == "hmac") {
						x.sink = true
					}
					x.refs[n.Sel.Name] = true
				case *ast.Ident:
					x.refs[n.Name] = true
				}
				return true
			})
			fns = append(fns, x)
		}
	}
	// Propagate until nothing changes: a function reaches a comparison when
	// it makes one or refers to a function that reaches one.
	reaches := map[*fn]bool{}
	for changed := true; changed; {
		changed = false
		for _, f := range fns {
			if reaches[f] {
				continue
			}
			hit := f.sink
			for _, g := range fns {
				if !hit && reaches[g] && f.refs[g.name] {
					hit = true
				}
			}
			if hit {
				reaches[f], changed = true, true
			}
		}
	}
	if len(reaches) < 3 {
		t.Fatalf("only %d functions reach a comparison: the test no longer reads the source right", len(reaches))
	}
	var exported []string
	for f := range reaches {
		if ast.IsExported(f.name) && (f.recv == "" || ast.IsExported(f.recv)) {
			exported = append(exported, strings.TrimPrefix(f.recv+"."+f.name, "."))
		}
	}
	slices.Sort(exported)
	if want := []string{"Guard.Handler", "Token.Matches"}; !slices.Equal(exported, want) {
		t.Fatalf("exported functions that compare a presented secret: %v, want %v", exported, want)
	}
}

func receiverName(e ast.Expr) string {
	if star, ok := e.(*ast.StarExpr); ok {
		e = star.X
	}
	if id, ok := e.(*ast.Ident); ok {
		return id.Name
	}
	return ""
}

// Issue 35, defect 4: the old Reasons was an exported slice, which any
// importer could change (and with it the labels the metrics start with and
// what reasons_test checks against). Reasons() is a copy.
func TestReasonsIsACopy(t *testing.T) {
	first := internalauth.Reasons()
	if len(first) == 0 {
		t.Fatal("no reasons")
	}
	want := slices.Clone(first)
	for i := range first {
		first[i] = "changed"
	}
	_ = append(first[:0], "appended") // an append into its backing array
	if got := internalauth.Reasons(); !slices.Equal(got, want) {
		t.Fatalf("after an importer changed its copy, Reasons() is %v, want %v", got, want)
	}
}
