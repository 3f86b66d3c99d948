// Package tracing is the services' OpenTelemetry tracing: off unless the
// standard OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT) is set, then
// spans are exported over OTLP/HTTP. Each service has its own provider,
// never the global one: two services in one test process stay two services.
// Trace context is accepted from callers only on the internal listener: a
// public caller must not choose the trace ids of our spans (its traceparent
// is only linked, as otelhttp.WithPublicEndpoint does).
package tracing

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/jeeves4service/jeeves4service/services/common/config"
	"github.com/jeeves4service/jeeves4service/services/common/database"
	"github.com/jeeves4service/jeeves4service/services/common/reqinfo"
)

// Tracing is one service's tracer provider, or nothing when tracing is off
// (a nil *Tracing is off too, for services built in code).
type Tracing struct {
	provider *sdktrace.TracerProvider
}

// Endpoint is where spans go, from the standard variables:
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as it is, or OTEL_EXPORTER_OTLP_ENDPOINT
// plus /v1/traces; "" (neither set) turns tracing off. Anything but an
// http:// or https:// URL with a host is a configuration error (the exporter
// would take it and fail quietly at every export).
func Endpoint(r *config.Reader) string {
	name, v := "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", r.Raw("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	if v == "" {
		name, v = "OTEL_EXPORTER_OTLP_ENDPOINT", r.Raw("OTEL_EXPORTER_OTLP_ENDPOINT")
		if v != "" {
			v = strings.TrimSuffix(v, "/") + "/v1/traces"
		}
	}
	if v == "" {
		return ""
	}
	if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		r.Fail(&config.Error{Var: name, Problem: "must be an http:// or https:// URL of an OTLP/HTTP collector, such as http://127.0.0.1:4318"})
		return ""
	}
	return v
}

// New starts tracing for service when endpoint is set; the exporter reads
// the other standard OTEL_EXPORTER_OTLP_* variables itself (headers, timeout).
func New(ctx context.Context, service, endpoint string) (*Tracing, error) {
	if endpoint == "" {
		return nil, nil
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
	if err != nil {
		return nil, fmt.Errorf("OTLP/HTTP trace exporter: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName(service)))
	if err != nil {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	return &Tracing{provider: sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))}, nil
}

// Provider is the service's tracer provider (a no-op one when off).
func (t *Tracing) Provider() trace.TracerProvider {
	if t == nil {
		return noop.NewTracerProvider()
	}
	return t.provider
}

// Shutdown flushes the spans still buffered and stops the exporter.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	if err := t.provider.Shutdown(ctx); err != nil {
		return fmt.Errorf("flush traces: %w", err)
	}
	return nil
}

var propagator = propagation.TraceContext{}

// Server returns the middleware that makes a server span for each request
// of listener (nil when tracing is off: nothing is wrapped, nothing costs).
// trustCallers says whether an incoming traceparent may be the parent (the
// internal listener) or is only linked (public listeners). The span is
// named after the contract's operationId once the validator has found it,
// and the request's record gets the trace id for the access line.
func (t *Tracing) Server(listener string, trustCallers bool) func(http.Handler) http.Handler {
	if t == nil {
		return nil
	}
	opts := []otelhttp.Option{otelhttp.WithTracerProvider(t.provider), otelhttp.WithPropagators(propagator),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return listener + " " + r.Method })}
	if !trustCallers {
		opts = append(opts, otelhttp.WithPublicEndpointFn(func(*http.Request) bool { return true }))
	}
	return func(next http.Handler) http.Handler {
		named := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r, info := reqinfo.Attach(r)
			span := trace.SpanFromContext(r.Context())
			info.TraceID = span.SpanContext().TraceID().String()
			next.ServeHTTP(w, r)
			if info.Operation != "" {
				span.SetName(info.Operation)
				span.SetAttributes(attribute.String("http.route", info.Route))
			}
		})
		return otelhttp.NewHandler(named, listener, opts...)
	}
}

// Client wraps an HTTP transport with client spans and W3C traceparent
// propagation (the user service's calls to the property service).
func (t *Tracing) Client(rt http.RoundTripper) http.RoundTripper {
	if t == nil {
		return rt
	}
	return otelhttp.NewTransport(rt, otelhttp.WithTracerProvider(t.provider), otelhttp.WithPropagators(propagator))
}

// Start starts a span named name as a child of ctx's span, with the
// provider that span came from: code deep in a use case (the password
// hash) needs no tracer handed down, and makes no span when tracing is off.
func Start(ctx context.Context, name string) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	if !parent.SpanContext().IsValid() {
		return ctx, parent
	}
	return parent.TracerProvider().Tracer("jeeves4service").Start(ctx, name)
}

// Database is what database.Open needs to trace statements (nil when off).
func (t *Tracing) Database() *database.Traced {
	if t == nil {
		return nil
	}
	return &database.Traced{Provider: t.provider}
}
