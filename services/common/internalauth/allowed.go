package internalauth

import (
	"fmt"
	"net/http"

	"github.com/getkin/kin-openapi/openapi3"

	"jeeves4service/services/common/problem"
	"jeeves4service/services/common/reqinfo"
)

// AllowedExtension is the operation extension of the internal contract that
// names the callers (CallerName of a SPIFFE ID, or a token's name) allowed
// to call the operation. speccheck requires it on every internal operation.
const AllowedExtension = "x-allowed-callers"

// AllowedCallers reads every operation's x-allowed-callers, by operationId.
func AllowedCallers(doc *openapi3.T) (map[string]map[string]bool, error) {
	out := map[string]map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			names, err := AllowedNames(op)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", method, path, err)
			}
			set := map[string]bool{}
			for _, n := range names {
				set[n] = true
			}
			out[op.OperationID] = set
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

// Allowed answers 403 to an authenticated caller the contract does not list
// for the operation it called (runs after the validator, which names both).
// An operation missing from allowed lets nobody in: the default is closed.
func (g *TokenGuard) Allowed(allowed map[string]map[string]bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			info := reqinfo.From(r.Context())
			if !allowed[info.Operation][info.Caller] {
				if g.report != nil {
					g.report.Forbidden(info.Caller)
				}
				if g.log != nil {
					g.log.WarnContext(r.Context(), "internal call forbidden", "reason", "caller_not_allowed",
						"caller", info.Caller, "caller_id", info.CallerID, "credential", info.Credential,
						"operation", info.Operation, "client_ip", info.ClientIP, "request_id", info.RequestID)
				}
				problem.Write(w, r, problem.New(http.StatusForbidden, "This caller may not call this operation."))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
