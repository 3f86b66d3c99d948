package internalauth

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// The extensions every operation of an internal contract carries (Policies,
// and so New, refuses a contract with an operation without them). They are read from the
// contract, like its security schemes, so that what the contract says is
// what the guard enforces.
const (
	// AllowedExtension names the callers allowed to call the operation (a
	// SPIFFE ID's CallerName, or a static token's name): any other
	// authenticated caller gets 403.
	AllowedExtension = "x-allowed-callers"
	// OnBehalfOfExtension says for whom a call is made: `parameter: user_id`
	// (the path parameter that names the user the call is for, the audit
	// line's subject), `none: <reason>` (a call made for no user), or
	// `any: <reason>` with `check: <what stands in>` (any verified subject
	// may act, and the callee's own check, named so that a reviewer can
	// find it, decides what the subject may see). `any` without a check is
	// refused: "the caller decided" is the caller's say-so, which a leaked
	// credential also has.
	OnBehalfOfExtension = "x-on-behalf-of"
)

// The internal contract's security schemes. Every internal operation has
// one security requirement naming WorkloadScheme (which workload calls) and,
// unless its x-on-behalf-of is `none`, SubjectScheme (for whom) with it: both
// must pass. The validator asks for them in name order, so the workload
// credential is decided first; the subject's check also refuses to run
// without an accepted caller, whatever the order.
const (
	WorkloadScheme = "InternalToken"
	SubjectScheme  = "SubjectToken"
	// SubjectHeader is the subject token's header (the SubjectToken scheme).
	SubjectHeader = "X-Subject-Token"
)

// Policy is what the internal contract says about one operation's callers.
type Policy struct {
	// Callers are the caller names x-allowed-callers lists.
	Callers map[string]bool
	// OnBehalfOf is the operation's x-on-behalf-of.
	OnBehalfOf OnBehalfOf
	// Subject is whether a call must carry a subject token (every
	// operation but one made for nobody).
	Subject bool
}

// OnBehalfOf is an operation's x-on-behalf-of: exactly one of its fields is set.
type OnBehalfOf struct {
	// Parameter is the path parameter that names the user a call is for.
	Parameter string
	// Any and None give the reason a call names no user by a parameter:
	// any verified subject, or nobody.
	Any, None string
	// Check names what stands in for the parameter under Any: the callee's
	// own check of what the subject may see.
	Check string
}

// Policies reads every operation's policy, by operationId.
func Policies(doc *openapi3.T) (map[string]Policy, error) {
	out := map[string]Policy{}
	if err := refuseOverlaps(doc); err != nil {
		return nil, err
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			names, err := AllowedNames(op)
			if err == nil && names == nil {
				err = fmt.Errorf("has no %s: who may call it must be said", AllowedExtension)
			}
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", method, path, err)
			}
			obo, present, err := ReadOnBehalfOf(item, op)
			if err == nil && !present {
				// Without it nothing binds a subject token to the user the
				// call is about: any subject could act for any other.
				err = fmt.Errorf("has no %s: for whom a call is made must be said", OnBehalfOfExtension)
			}
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", method, path, err)
			}
			if op.OperationID == "" {
				return nil, fmt.Errorf("%s %s: has no operationId (policies, subject tokens and budgets name it)", method, path)
			}
			if problems := SecurityProblems(doc, op, obo); len(problems) > 0 {
				return nil, fmt.Errorf("%s %s: %s", method, path, problems[0])
			}
			if _, dup := out[op.OperationID]; dup {
				return nil, fmt.Errorf("%s %s: operationId %s is used twice (policies are by operationId)", method, path,
					op.OperationID)
			}
			p := Policy{Callers: map[string]bool{}, OnBehalfOf: obo, Subject: obo.None == ""}
			for _, n := range names {
				p.Callers[n] = true
			}
			out[op.OperationID] = p
		}
	}
	return out, nil
}

// AllowedNames returns an operation's x-allowed-callers: nil when absent,
// an error when it is not a list of non-empty strings.
func AllowedNames(op *openapi3.Operation) ([]string, error) {
	raw, ok := op.Extensions[AllowedExtension]
	if !ok {
		return nil, nil
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, fmt.Errorf("%s must be a list", AllowedExtension)
	}
	names := make([]string, 0, len(list))
	for _, v := range list {
		s, ok := v.(string)
		if !ok || s == "" {
			return nil, fmt.Errorf("%s must list caller names", AllowedExtension)
		}
		names = append(names, s)
	}
	return names, nil
}

// ReadOnBehalfOf returns an operation's x-on-behalf-of and whether it has
// one; an error when it is not exactly one of parameter (a path parameter
// of the operation or of its path item), none, or any together with check,
// each with a non-empty value.
func ReadOnBehalfOf(item *openapi3.PathItem, op *openapi3.Operation) (OnBehalfOf, bool, error) {
	raw, ok := op.Extensions[OnBehalfOfExtension]
	if !ok {
		return OnBehalfOf{}, false, nil
	}
	m, ok := raw.(map[string]any)
	if !ok || len(m) == 0 {
		return OnBehalfOf{}, true, fmt.Errorf("%s must have exactly one of parameter, any, none", OnBehalfOfExtension)
	}
	values := make(map[string]string, len(m))
	for key, v := range m {
		value, ok := v.(string)
		if !ok || value == "" {
			return OnBehalfOf{}, true, fmt.Errorf("%s.%s must be a non-empty string", OnBehalfOfExtension, key)
		}
		values[key] = value
	}
	keys := slices.Sorted(maps.Keys(values))
	switch {
	case slices.Equal(keys, []string{"any", "check"}):
		return OnBehalfOf{Any: values["any"], Check: values["check"]}, true, nil
	case len(keys) == 1 && keys[0] == "any":
		return OnBehalfOf{}, true, fmt.Errorf("%s.any must come with a check: what the callee itself verifies of the ids "+
			"a subject may read (any verified subject acting on the caller's say-so is what a leaked credential has too)",
			OnBehalfOfExtension)
	case len(keys) != 1:
		return OnBehalfOf{}, true, fmt.Errorf("%s must have exactly one of parameter, any, none (not %s)",
			OnBehalfOfExtension, strings.Join(keys, ", "))
	}
	key, value := keys[0], values[keys[0]]
	switch key {
	case "parameter":
		for _, p := range append(slices.Clone(item.Parameters), op.Parameters...) {
			if p.Value != nil && p.Value.In == openapi3.ParameterInPath && p.Value.Name == value {
				return OnBehalfOf{Parameter: value}, true, nil
			}
		}
		return OnBehalfOf{}, true, fmt.Errorf("%s.parameter names %q, which is not a path parameter of the operation",
			OnBehalfOfExtension, value)
	case "none":
		return OnBehalfOf{None: value}, true, nil
	}
	return OnBehalfOf{}, true, fmt.Errorf("%s must have exactly one of parameter, any, none (not %q)", OnBehalfOfExtension, key)
}

// SecurityProblems says what is wrong with an internal operation's security
// requirements given its x-on-behalf-of: there must be exactly one
// requirement (an alternative would be a way around the other), naming
// WorkloadScheme, and SubjectScheme with it unless the call is made for
// nobody (`none`), when it must not; both schemes must be the apiKey headers
// the guard reads.
func SecurityProblems(doc *openapi3.T, op *openapi3.Operation, obo OnBehalfOf) []string {
	sec := doc.Security
	if op.Security != nil {
		sec = *op.Security
	}
	if len(sec) != 1 {
		return []string{fmt.Sprintf("an internal operation has exactly one security requirement (%s with %s), not %d",
			WorkloadScheme, SubjectScheme, len(sec))}
	}
	var out []string
	req := sec[0]
	if _, ok := req[WorkloadScheme]; !ok {
		out = append(out, "its security requirement does not name "+WorkloadScheme)
	}
	_, subject := req[SubjectScheme]
	switch {
	case obo.None == "" && !subject:
		out = append(out, "it is called for a user ("+OnBehalfOfExtension+") but its security requirement does not name "+
			SubjectScheme)
	case obo.None != "" && subject:
		out = append(out, "it is called for nobody ("+OnBehalfOfExtension+": none) but requires "+SubjectScheme)
	}
	for name := range req {
		if name != WorkloadScheme && name != SubjectScheme {
			out = append(out, "its security requirement names "+name+", which the guard does not check")
		}
	}
	want := map[string]string{WorkloadScheme: Header, SubjectScheme: SubjectHeader}
	for _, name := range slices.Sorted(maps.Keys(req)) {
		header, known := want[name]
		if !known {
			continue
		}
		var scheme *openapi3.SecurityScheme
		if doc.Components != nil && doc.Components.SecuritySchemes[name] != nil {
			scheme = doc.Components.SecuritySchemes[name].Value
		}
		if scheme == nil || scheme.Type != "apiKey" || scheme.In != "header" || scheme.Name != header {
			out = append(out, fmt.Sprintf("scheme %s must be an apiKey in the header %s", name, header))
		}
	}
	return out
}

// refuseOverlaps refuses two path templates that one request path can
// match (same number of segments, and at every position equal literals or
// a parameter): routers break such ties differently (kin-openapi's by
// fewer parameters, chi's by the first literal segment), so the guard
// could check one operation while the service's mux runs the other's
// handler.
func refuseOverlaps(doc *openapi3.T) error {
	paths := doc.Paths.InMatchingOrder()
	for i, a := range paths {
		for _, b := range paths[i+1:] {
			if overlap(a, b) {
				return fmt.Errorf("paths %s and %s can match the same request: routers disagree on which wins, "+
					"so the guard could check one operation and the service run the other", a, b)
			}
		}
	}
	return nil
}

func overlap(a, b string) bool {
	sa, sb := strings.Split(strings.Trim(a, "/"), "/"), strings.Split(strings.Trim(b, "/"), "/")
	if len(sa) != len(sb) {
		return false
	}
	for i := range sa {
		va, vb := strings.HasPrefix(sa[i], "{"), strings.HasPrefix(sb[i], "{")
		if !va && !vb && sa[i] != sb[i] {
			return false
		}
	}
	return true
}
