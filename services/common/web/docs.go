package web

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
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
	write := func(w http.ResponseWriter, contentType string, body []byte, csp bool) {
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if csp {
			w.Header().Set("Content-Security-Policy", docsPolicy)
		}
		_, _ = w.Write(body)
	}
	serve := func(contentType string, body []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) { write(w, contentType, body, false) }
	}
	zr, err := gzip.NewReader(bytes.NewReader(page))
	if err != nil {
		return fmt.Errorf("docs page is not gzip: %w", err)
	}
	// Unpacked on the first request from a client without gzip, not at start.
	plain := sync.OnceValues(func() ([]byte, error) { return io.ReadAll(zr) })
	r.Get("/docs", func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Vary", "Accept-Encoding")
		if acceptsGzip(req.Header.Get("Accept-Encoding")) {
			w.Header().Set("Content-Encoding", "gzip")
			write(w, "text/html; charset=utf-8", page, true)
			return
		}
		body, err := plain()
		if err != nil {
			problem.Write(w, req, problem.New(http.StatusInternalServerError, "The docs page cannot be read."))
			return
		}
		write(w, "text/html; charset=utf-8", body, true)
	})
	r.Get("/openapi.yaml", serve("application/yaml", specYAML))
	r.Get("/openapi.json", serve("application/json", specJSON))
	return nil
}

// acceptsGzip reports whether an Accept-Encoding value allows gzip: listed
// with a q above 0, or not listed and allowed by "*".
func acceptsGzip(header string) bool {
	gzipQ, starQ := -1.0, -1.0
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q="); ok {
			var err error
			if q, err = strconv.ParseFloat(v, 64); err != nil {
				q = 0 // unreadable: not allowed
			}
		}
		switch strings.ToLower(strings.TrimSpace(coding)) {
		case "gzip":
			gzipQ = q
		case "*":
			starQ = q
		}
	}
	if gzipQ >= 0 {
		return gzipQ > 0
	}
	return starQ > 0
}
