package web

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/go-chi/chi/v5"

	"jeeves4service/services/common/problem"
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
	if _, err := gzip.NewReader(bytes.NewReader(page)); err != nil {
		return fmt.Errorf("docs page is not gzip: %w", err)
	}
	plain := sync.OnceValues(func() ([]byte, error) {
		zr, err := gzip.NewReader(bytes.NewReader(page))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(zr)
	})
	html := serve("text/html; charset=utf-8", page, true)
	r.Get("/docs", func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Vary", "Accept-Encoding")
		if acceptsGzip(req.Header.Get("Accept-Encoding")) {
			w.Header().Set("Content-Encoding", "gzip")
			html(w, req)
			return
		}
		body, err := plain()
		if err != nil {
			problem.Write(w, req, problem.New(http.StatusInternalServerError, "The docs page cannot be read."))
			return
		}
		serve("text/html; charset=utf-8", body, true)(w, req)
	})
	r.Get("/openapi.yaml", serve("application/yaml", specYAML, false))
	r.Get("/openapi.json", serve("application/json", specJSON, false))
	return nil
}

// acceptsGzip reports whether an Accept-Encoding value allows gzip (listed,
// or *, and not with q=0).
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding != "gzip" && coding != "*" {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}
