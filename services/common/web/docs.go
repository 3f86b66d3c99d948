package web

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/go-chi/chi/v5"
)

// docsPolicy keeps the docs page on its own origin: even if the renderer
// references a CDN (icons, fonts), the browser may fetch nothing off-host.
const docsPolicy = "default-src 'none'; script-src 'self' 'unsafe-inline' blob:; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; base-uri 'none'; form-action 'none'"

// Docs serves a contract on r: the rendered page at /docs, the contract at
// /openapi.yaml and /openapi.json. Each listener gets only its own contract.
func Docs(r chi.Router, page, specYAML []byte) error {
	// Parsed from the YAML rather than reusing the validator's document: the
	// validator clears that document's servers, which the published JSON keeps.
	doc, err := openapi3.NewLoader().LoadFromData(specYAML)
	if err != nil {
		return fmt.Errorf("load contract for /openapi.json: %w", err)
	}
	specJSON, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("convert contract to JSON: %w", err)
	}
	serve := func(contentType string, body []byte, csp bool) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", contentType)
			w.Header().Set("X-Content-Type-Options", "nosniff")
			if csp {
				w.Header().Set("Content-Security-Policy", docsPolicy)
			}
			_, _ = w.Write(body)
		}
	}
	r.Get("/docs", serve("text/html; charset=utf-8", page, true))
	r.Get("/openapi.yaml", serve("application/yaml", specYAML, false))
	r.Get("/openapi.json", serve("application/json", specJSON, false))
	return nil
}
