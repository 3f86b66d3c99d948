// The rules every contract of this project must keep,
// checked by `make lint` and by tests: they catch the spec mistakes that turn
// into security holes (an operation made public by `security: []`, a
// requirement naming an undeclared scheme, an undocumented error, an
// internal operation that does not say which callers it allows).

package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/jeeves4service/jeeves4service/internalauth"
)

// Check parses, validates and applies the project rules; it returns one line
// per broken rule.
func Check(ctx context.Context, data []byte) ([]string, error) {
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("validate: %w", err)
	}
	var out []string
	if !strings.HasPrefix(doc.OpenAPI, "3.0.") {
		out = append(out, fmt.Sprintf("openapi %s: write contracts as 3.0.x (3.1 schemas are recompiled per request)", doc.OpenAPI))
	}
	declared := map[string]bool{}
	if doc.Components != nil {
		for name := range doc.Components.SecuritySchemes {
			declared[name] = true
		}
	}
	ids := map[string]bool{}
	for _, path := range sortedKeys(doc.Paths.Map()) {
		item := doc.Paths.Value(path)
		for method, op := range item.Operations() {
			where := method + " " + path
			if op.OperationID == "" {
				out = append(out, where+": no operationId")
			} else if ids[op.OperationID] {
				out = append(out, where+": duplicate operationId "+op.OperationID)
			}
			ids[op.OperationID] = true
			if op.Summary == "" {
				out = append(out, where+": no summary")
			}
			internal := strings.HasPrefix(path, "/api/internal/")
			sec := doc.Security
			if op.Security != nil {
				sec = *op.Security
			}
			if internal && len(sec) == 0 {
				out = append(out, where+": internal operation without a security requirement")
			}
			for _, req := range sec {
				if internal && len(req) == 0 {
					out = append(out, where+": internal operation allows anonymous access")
				}
				for name := range req {
					if !declared[name] {
						out = append(out, where+": security requirement names undeclared scheme "+name)
					}
				}
			}
			if internal {
				names, err := internalauth.AllowedNames(op)
				switch {
				case err != nil:
					out = append(out, where+": "+err.Error())
				case len(names) == 0:
					out = append(out, where+": internal operation does not name its callers ("+internalauth.AllowedExtension+")")
				case op.Responses.Value("403") == nil:
					out = append(out, where+": names its callers but 403 is not documented")
				}
				if obo, ok, err := internalauth.ReadOnBehalfOf(item, op); err != nil {
					out = append(out, where+": "+err.Error())
				} else if !ok {
					out = append(out, where+": internal operation does not say for whom it is called ("+
						internalauth.OnBehalfOfExtension+")")
				} else {
					for _, p := range internalauth.SecurityProblems(doc, op, obo) {
						out = append(out, where+": "+p)
					}
				}
			}
			if len(sec) > 0 && op.Responses.Value("401") == nil {
				out = append(out, where+": secured but 401 is not documented")
			}
			for code, resp := range op.Responses.Map() {
				if code[0] != '4' && code[0] != '5' {
					continue
				}
				if resp.Value == nil || resp.Value.Content.Get("application/problem+json") == nil {
					out = append(out, where+": error "+code+" is not application/problem+json")
				}
			}
		}
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
