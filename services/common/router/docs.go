package router

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/go-chi/chi/v5"

	"github.com/jeeves4service/jeeves4service/services/common/problem"
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
	zr, err := gzip.NewReader(bytes.NewReader(page))
	if err != nil {
		return fmt.Errorf("docs page is not gzip: %w", err)
	}
	// Unpacked on the first request from a client without gzip, not at start.
	plain := sync.OnceValues(func() ([]byte, error) { return io.ReadAll(zr) })
	// The plain page is the gzipped one unpacked, so one digest names both;
	// each representation still gets a validator of its own.
	pageTag := etag(page)
	packedTag, plainTag := strings.TrimSuffix(pageTag, `"`)+`-gzip"`, pageTag
	r.Get("/docs", func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Vary", "Accept-Encoding")
		w.Header().Set("Content-Security-Policy", docsPolicy)
		if acceptsGzip(req.Header.Get("Accept-Encoding")) {
			w.Header().Set("Content-Encoding", "gzip")
			serveStatic(w, req, "text/html; charset=utf-8", packedTag, page)
			return
		}
		body, err := plain()
		if err != nil {
			problem.Write(w, req, problem.New(http.StatusInternalServerError, "The docs page cannot be read."))
			return
		}
		serveStatic(w, req, "text/html; charset=utf-8", plainTag, body)
	})
	for path, c := range map[string]struct {
		contentType string
		body        []byte
	}{"/openapi.yaml": {"application/yaml", specYAML}, "/openapi.json": {"application/json", specJSON}} {
		tag := etag(c.body)
		r.Get(path, func(w http.ResponseWriter, req *http.Request) { serveStatic(w, req, c.contentType, tag, c.body) })
	}
	return nil
}

// docsCacheControl lets a browser keep the docs and contracts for a few
// minutes without asking, and then ask with If-None-Match (a 304 and no body
// while they are unchanged): they change only with a new release.
const docsCacheControl = "max-age=300"

// serveStatic answers with body under its validator tag: http.ServeContent
// answers If-None-Match with 304 (and HEAD and Range requests) from the
// ETag set here.
func serveStatic(w http.ResponseWriter, r *http.Request, contentType, tag string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", docsCacheControl)
	h.Set("ETag", tag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// etag is a strong validator for body: its SHA-256, shortened (the bodies
// are the release's own files, not chosen by anyone who could seek a
// collision).
func etag(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
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
