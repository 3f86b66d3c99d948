// Package middleware is what every request of every listener passes through
// before it reaches an API: its request id, the client IP it is believed to
// come from, panic recovery, nosniff, the body limit, the refusal of
// credentials in a URL, and the access line (the audit line of an accepted
// internal call). Package router puts them in order.
package middleware

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/jeeves4service/jeeves4service/services/common/logging"
	"github.com/jeeves4service/jeeves4service/services/common/problem"
	"github.com/jeeves4service/jeeves4service/services/common/reqinfo"
)

// RequestIDHeader carries the request id in and out, and to the property
// service. Field names are case-insensitive (X-Request-ID on the wire is the
// same field); the constant is in Go's canonical form, so that looking it up
// and setting it, on every request, does not convert and allocate the name.
const RequestIDHeader = "X-Request-Id"

// safeRequestID is ^[A-Za-z0-9._-]{1,64}$ (a loop, not a regexp: it runs on
// every request).
func safeRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// RequestID keeps a well-formed incoming X-Request-ID (so one id follows a login
// through both services) and makes a fresh one otherwise; junk is never echoed.
func RequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r, info := reqinfo.Attach(r)
		info.RequestID = r.Header.Get(RequestIDHeader)
		if !safeRequestID(info.RequestID) {
			info.RequestID = NewID()
		}
		w.Header().Set(RequestIDHeader, info.RequestID)
		next.ServeHTTP(w, r)
	})
}

// NewID returns 16 random hex characters.
func NewID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ClientIP records the caller's IP: the TCP peer, or, only when that peer is a
// trusted proxy, the right-most X-Forwarded-For entry that is not itself trusted.
// Anyone can write X-Forwarded-For, so believing it from untrusted peers would
// let an attacker choose the IP that audit logs and rate limits see.
func ClientIP(trusted []netip.Prefix) func(http.Handler) http.Handler {
	isTrusted := func(a netip.Addr) bool {
		for _, p := range trusted {
			if p.Contains(a.Unmap()) {
				return true
			}
		}
		return false
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r, info := reqinfo.Attach(r)
			ip := peerIP(r.RemoteAddr)
			if addr, err := netip.ParseAddr(ip); err == nil && isTrusted(addr) {
				hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
				for i := len(hops) - 1; i >= 0; i-- {
					hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
					if err != nil {
						break
					}
					ip = hop.Unmap().String()
					if !isTrusted(hop) {
						break
					}
				}
			}
			info.ClientIP = ip
			next.ServeHTTP(w, r)
		})
	}
}

func peerIP(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return remote
	}
	if a, err := netip.ParseAddr(host); err == nil && !a.Is4() {
		return a.Unmap().String() // ::ffff:1.2.3.4 is 1.2.3.4
	}
	return host
}

// Recover turns a panic into a 500 problem response instead of a dropped connection.
func Recover(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if v := recover(); v != nil {
					if v == http.ErrAbortHandler {
						panic(v)
					}
					log.ErrorContext(r.Context(), "panic in handler", "request_id", reqinfo.RequestID(r.Context()),
						"method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
					problem.Write(w, r, problem.New(http.StatusInternalServerError, "The server could not complete the request."))
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// NoSniff sets X-Content-Type-Options: nosniff on every response, so that no
// browser second-guesses a JSON or problem+json body as something else.
func NoSniff(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}

// MaxBodyBytes is the largest request body either service reads.
const MaxBodyBytes = 64 << 10

// LimitBody answers 413 at once when Content-Length is too big, and caps the
// reader for bodies that do not say their length.
func LimitBody(limit int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > limit {
				problem.Write(w, r, problem.New(http.StatusRequestEntityTooLarge, "The request body is too large."))
				return
			}
			if r.Body != http.NoBody { // no body: nothing to cap (and readers can tell there is none)
				r.Body = http.MaxBytesReader(w, r.Body, limit)
			}
			next.ServeHTTP(w, r)
		})
	}
}

// secretParams must never travel in a URL: URLs end up in proxy logs, browser
// history and Referer headers.
var secretParams = []string{"password", "current_password", "new_password", "token", "access_token", "refresh_token", "x-internal-token"}

// RejectSecretsInQuery answers 400 to a request whose query string carries a
// credential, before anything else sees it (and without logging the URL).
func RejectSecretsInQuery(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery == "" {
			next.ServeHTTP(w, r)
			return
		}
		q := r.URL.Query()
		for key := range q {
			for _, s := range secretParams {
				if strings.EqualFold(key, s) {
					problem.Write(w, r, problem.New(http.StatusBadRequest,
						"Credentials must be sent in the request body or a header, never in the URL.",
						problem.FieldError{Field: key, Message: "not allowed in the query string"}))
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Status returns the status written so far (200 if the handler wrote a body only).
func (s *statusRecorder) Status() int {
	if s.status == 0 {
		return http.StatusOK
	}
	return s.status
}

// Observe calls done with the status, the duration and the time it ended
// after next has served the request (one clock read for both: a clock read
// is not free on a VM, and the access line is stamped with the end).
func Observe(w http.ResponseWriter, r *http.Request, next http.Handler, done func(status int, took time.Duration, end time.Time)) {
	rec := statusRecorders.Get().(*statusRecorder)
	*rec = statusRecorder{ResponseWriter: w}
	start := time.Now()
	next.ServeHTTP(rec, r)
	status := rec.Status()
	*rec = statusRecorder{} // no reference to this request stays in the pool
	statusRecorders.Put(rec)
	end := time.Now()
	done(status, end.Sub(start), end)
}

// statusRecorders recycles the recorders, as budgetWriters do the budget
// writers: a handler may not use its ResponseWriter once ServeHTTP returned.
var statusRecorders = sync.Pool{New: func() any { return new(statusRecorder) }}

// Observer is told about every request once it is served (the metrics).
type Observer func(info *reqinfo.Info, status int, took time.Duration)

// AccessLog writes one INFO line per request once it is served
// (logging.Access): method, path (never the query, which may hold what a
// careless client put there, nor any header), the contract's route and
// operationId, status, duration, request id, client IP, and the trace id
// when tracing is on. A request whose credential named a caller (an accepted
// internal call, see tokenguard) gets the audit line instead: the same
// fields plus the caller, its credential and the call's subject. One line
// per request either way.
// observe, when not nil, is told about every request too.
func AccessLog(log *slog.Logger, observe Observer) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			logged := log.Enabled(r.Context(), slog.LevelInfo)
			if !logged && observe == nil {
				next.ServeHTTP(w, r)
				return
			}
			Observe(w, r, next, func(status int, took time.Duration, end time.Time) {
				info := reqinfo.From(r.Context())
				if observe != nil {
					observe(info, status, took)
				}
				if !logged {
					return
				}
				logging.WriteAccess(r.Context(), log, &logging.Access{Method: r.Method, Path: r.URL.Path,
					Route: info.Route, Operation: info.Operation, Status: status, Took: took, At: end,
					RequestID: info.RequestID, ClientIP: info.ClientIP, TraceID: info.TraceID,
					Caller: info.Caller, CallerID: info.CallerID, Credential: info.Credential, Subject: info.Subject,
					SubjectTokenID: info.SubjectTokenID})
			})
		})
	}
}
