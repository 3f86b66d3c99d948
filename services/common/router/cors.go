package router

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-chi/cors"
)

// CORS is the public listeners' cross-origin policy (go-chi/cors): a browser
// page may call the API only from an origin in origins (CORS_ALLOWED_ORIGINS;
// none by default). Origins are matched exactly, never "*": go-chi/cors would
// allow every origin for an empty list, so the match is always our function.
// No credentials mode: the API takes bearer tokens, not cookies. The internal
// listener has no CORS policy at all, so it never answers a preflight.
func CORS(origins []string) func(http.Handler) http.Handler {
	allowed := make(map[string]bool, len(origins))
	for _, o := range origins {
		allowed[o] = true
	}
	return cors.Handler(cors.Options{
		AllowOriginFunc:  func(_ *http.Request, origin string) bool { return allowed[origin] },
		AllowedMethods:   []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete},
		AllowedHeaders:   []string{"Authorization", "Content-Type", "X-Request-ID"},
		ExposedHeaders:   []string{"Authorization", "RateLimit", "RateLimit-Policy", "Retry-After", "X-Request-ID"},
		AllowCredentials: false,
		MaxAge:           600,
	})
}

// ParseOrigins reads CORS_ALLOWED_ORIGINS: a comma-separated list of
// origins such as https://app.example.com ("" allows none). "*" is refused:
// an API that takes bearer tokens has no reason to accept every origin.
func ParseOrigins(v string) ([]string, error) {
	var out []string
	for _, o := range strings.Split(v, ",") {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		if o == "*" {
			return nil, fmt.Errorf(`"*" is not allowed: list each origin`)
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") ||
			u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("%q is not an origin such as https://app.example.com", o)
		}
		out = append(out, u.Scheme+"://"+u.Host)
	}
	return out, nil
}
