// Package metrics is a service's Prometheus registry (client_golang),
// served at /metrics on the admin listener only. Every label value comes
// from a closed set: the listener, the contract's operationId (or "none"
// for a path the contract does not have), the status code, a configured
// caller name, a budget's name, a fixed reason. Never a raw path or
// anything else a client writes, so no request can add a series.
package metrics

import (
	"database/sql"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/jeeves4service/jeeves4service/internalauth"
	"github.com/jeeves4service/jeeves4service/services/common/reqinfo"
	"github.com/jeeves4service/jeeves4service/services/common/upstream"
)

// Metrics is one service's registry and the instruments every service has.
// A nil *Metrics records nothing (services built in code, in tests).
type Metrics struct {
	reg       *prometheus.Registry
	wrapped   prometheus.Registerer // adds the service label
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	authOK    *prometheus.CounterVec
	authNo    *prometheus.CounterVec
	denied    *prometheus.CounterVec
	refusals  *prometheus.CounterVec
	opens     *prometheus.CounterVec
	whileOpen *prometheus.CounterVec
}

// ParseSwitch reads METRICS: "on" (the default) or "off"; it returns whether they are off.
func ParseSwitch(v string) (bool, error) {
	switch v {
	case "on":
		return false, nil
	case "off":
		return true, nil
	}
	return false, fmt.Errorf("must be on or off")
}

// New makes service's registry with the Go runtime and process collectors;
// when on is false it returns nil, which records nothing and serves no
// /metrics (METRICS=off: the baseline the bench measures their cost against).
func New(service string, on bool) *Metrics {
	if !on {
		return nil
	}
	reg := prometheus.NewRegistry()
	w := prometheus.WrapRegistererWith(prometheus.Labels{"service": service}, reg)
	w.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{reg: reg, wrapped: w,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "http_requests_total",
			Help: "Requests served, by listener, contract operationId (none: not in the contract) and status."},
			[]string{"listener", "operation", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "http_request_duration_seconds",
			Help:    "Time to serve a request, by listener and contract operationId.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}},
			[]string{"listener", "operation"}),
		authOK: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "internal_auth_accepted_total",
			Help: "Internal calls whose credential was accepted, by caller name and credential kind."},
			[]string{"caller", "credential"}),
		authNo: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "internal_auth_rejected_total",
			Help: "Internal calls refused before the handler, by reason (missing, invalid, rate_limited, and the SPIFFE reasons)."},
			[]string{"reason"}),
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "internal_auth_forbidden_total",
			Help: "Authenticated internal calls to an operation the contract does not allow the caller (403)."},
			[]string{"caller"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ratelimit_refusals_total",
			Help: "Requests refused because a budget was spent, by budget."}, []string{"budget"}),
		opens: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "upstream_circuit_opens_total",
			Help: "Times the circuit breaker in front of an upstream service opened, by upstream (the callee)."},
			[]string{"upstream"}),
		whileOpen: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "upstream_circuit_refused_total",
			Help: "Calls to an upstream service the circuit breaker refused without trying (open, or half-open " +
				"with its trial call out), by upstream (the callee)."}, []string{"upstream"}),
	}
	w.MustRegister(m.requests, m.latency, m.authOK, m.authNo, m.denied, m.refusals, m.opens, m.whileOpen)
	// A series born at 40 shows no increase() until its second change, so the
	// guessing alert would miss a first burst: every reason starts at zero.
	for _, reason := range internalauth.Reasons() {
		m.authNo.WithLabelValues(reason)
	}
	return m
}

// Handler serves the registry (for the admin listener).
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return nil
	}
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Register adds a service's own collectors (login outcomes, breaker state).
func (m *Metrics) Register(cs ...prometheus.Collector) {
	if m == nil {
		return
	}
	m.wrapped.MustRegister(cs...)
}

// DB reports a connection pool's statistics (open, in use, idle, waits).
func (m *Metrics) DB(name string, db *sql.DB) {
	m.Register(collectors.NewDBStatsCollector(db, name))
}

// statusLabels are the status codes as label values, made once.
var statusLabels = func() (s [600]string) {
	for i := range s {
		s[i] = strconv.Itoa(i)
	}
	return
}()

// HTTP returns the recorder of a listener's requests (middleware.AccessLog calls it).
func (m *Metrics) HTTP(listener string) func(info *reqinfo.Info, status int, took time.Duration) {
	if m == nil {
		return nil
	}
	return func(info *reqinfo.Info, status int, took time.Duration) {
		op := info.Operation
		if op == "" {
			op = "none"
		}
		code := "other"
		if status >= 100 && status < 600 {
			code = statusLabels[status]
		}
		m.requests.WithLabelValues(listener, op, code).Inc()
		m.latency.WithLabelValues(listener, op).Observe(took.Seconds())
	}
}

// Accepted, Rejected and Forbidden record internal-auth outcomes (the
// token guard's observer).
func (m *Metrics) Accepted(caller, credential string) {
	if m != nil {
		m.authOK.WithLabelValues(caller, credential).Inc()
	}
}

// Rejected records a refused internal call by reason.
func (m *Metrics) Rejected(reason string) {
	if m != nil {
		m.authNo.WithLabelValues(reason).Inc()
	}
}

// Forbidden records a caller refused by the contract's x-allowed-callers.
func (m *Metrics) Forbidden(caller string) {
	if m != nil {
		m.denied.WithLabelValues(caller).Inc()
	}
}

// RefusalCounter is Refused, or nil when metrics are off (ratelimit.Store.OnRefuse).
func (m *Metrics) RefusalCounter() func(budget string) {
	if m == nil {
		return nil
	}
	return m.Refused
}

// Refused records a request refused by the budget named budget.
func (m *Metrics) Refused(budget string) {
	if m != nil {
		m.refusals.WithLabelValues(budget).Inc()
	}
}

// Counter registers a counter with one label (whose values the caller takes
// from a closed set) and returns what counts one for a value.
func (m *Metrics) Counter(name, help, label string) func(value string) {
	if m == nil {
		return func(string) {}
	}
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{label})
	m.Register(c)
	return func(value string) { c.WithLabelValues(value).Inc() }
}

// Gauge registers a gauge read from f at every scrape.
func (m *Metrics) Gauge(name, help string, f func() float64) {
	m.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
}

// Breaker registers the instruments of the circuit breaker in front of the
// upstream service named upstream (the callee: user-service,
// property-service), once per service and upstream:
// upstream_circuit_state (0 closed, 1 half-open, 2 open; read from state at
// every scrape, which also moves an open breaker whose time is up to
// half-open, as a call would), upstream_circuit_opens_total and
// upstream_circuit_refused_total (calls refused without trying). It returns
// s with its OnStateChange and Outcome hooks counting them, after any hooks
// s already had. Both counters start at zero, so that the first opening
// shows in increase().
func (m *Metrics) Breaker(upstreamName string, s upstream.Settings, state func() float64) upstream.Settings {
	if m == nil {
		return s
	}
	m.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "upstream_circuit_state",
		Help:        "The circuit breaker in front of an upstream service (the callee): 0 closed, 1 half-open, 2 open.",
		ConstLabels: prometheus.Labels{"upstream": upstreamName}}, state))
	opens, whileOpen := m.opens.WithLabelValues(upstreamName), m.whileOpen.WithLabelValues(upstreamName)
	onChange, outcome := s.OnStateChange, s.Outcome
	s.OnStateChange = func(from, to string) {
		if onChange != nil {
			onChange(from, to)
		}
		if to == upstream.StateOpen {
			opens.Inc()
		}
	}
	s.Outcome = func(o string) {
		if outcome != nil {
			outcome(o)
		}
		if o == upstream.OutcomeCircuitOpen {
			whileOpen.Inc()
		}
	}
	return s
}
