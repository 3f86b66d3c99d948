package router

import (
	"net/http"
	"net/http/pprof"

	"github.com/go-chi/chi/v5"
)

// Admin is a service's admin listener (USER_ADMIN_ADDR, PROPERTY_ADMIN_ADDR):
// the operational endpoints that must never be reachable on a public
// listener, /metrics (when metrics is not nil) and, when profiler is true
// (PPROF=on), Go's profiler under /debug/pprof/. Bind it to loopback or a
// network only operators reach. The profiler is off by default: whoever
// reaches it reads the command line and every goroutine's stack, and can
// keep a core busy profiling.
func Admin(metrics http.Handler, profiler bool) http.Handler {
	r := chi.NewRouter()
	r.NotFound(notFound)
	r.MethodNotAllowed(methodNotAllowed)
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	if metrics != nil {
		r.Handle("/metrics", metrics)
	}
	if profiler {
		r.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		r.HandleFunc("/debug/pprof/profile", pprof.Profile)
		r.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		r.HandleFunc("/debug/pprof/trace", pprof.Trace)
		r.HandleFunc("/debug/pprof/*", pprof.Index)
	}
	return r
}
