package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/observability/otelmediator"
	"github.com/turbomediator/turbomediator-go/observability/otelmediator/lockproducer"
)

// Telemetry is what the -trace and -otlp-endpoint flags decide. Metrics
// are always on: GET /metrics serves them.
type Telemetry struct {
	// Trace writes a span per Send and Publish (with the lock events) to
	// TraceOut, as JSON lines.
	Trace bool
	// TraceOut is where -trace writes; the server's stdout.
	TraceOut io.Writer
	// OTLPEndpoint, when set, sends the spans over OTLP/HTTP to this
	// collector ("localhost:4318", plain HTTP, or a full URL such as
	// "https://collector:4318/v1/traces") instead of writing them.
	OTLPEndpoint string
}

// telemetry is the OpenTelemetry SDK of one App: a meter provider read by
// the Prometheus exporter into its own registry, the lock metrics produced
// into that exporter, and, when asked for, a tracer provider.
type telemetry struct {
	registry *prometheus.Registry
	meters   *sdkmetric.MeterProvider
	tracer   *sdktrace.TracerProvider // nil without -trace
	// metrics observes the locks and aggregates their metrics itself; the
	// exporter collects them at each scrape (lockproducer: a few atomic
	// additions per lock event instead of SDK recordings).
	metrics *lockproducer.Producer
}

// serviceResource names the bank in every span and metric.
func serviceResource() *resource.Resource {
	return resource.NewSchemaless(attribute.String("service.name", "bank"))
}

// newTelemetry sets up the SDK that cfg asks for.
func newTelemetry(cfg Telemetry) (*telemetry, error) {
	t := &telemetry{registry: prometheus.NewRegistry(), metrics: lockproducer.New()}
	exporter, err := otelprom.New(otelprom.WithRegisterer(t.registry), otelprom.WithProducer(t.metrics))
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	t.meters = sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter), sdkmetric.WithResource(serviceResource()))
	if cfg.Trace || cfg.OTLPEndpoint != "" {
		spans, err := spanExporter(cfg)
		if err != nil {
			return nil, errors.Join(err, t.meters.Shutdown(context.Background()))
		}
		t.tracer = sdktrace.NewTracerProvider(sdktrace.WithBatcher(spans), sdktrace.WithResource(serviceResource()))
	}
	return t, nil
}

// spanExporter is OTLP/HTTP when an endpoint is given, JSON lines on
// TraceOut otherwise.
func spanExporter(cfg Telemetry) (sdktrace.SpanExporter, error) {
	if ep := cfg.OTLPEndpoint; ep != "" {
		opt := otlptracehttp.WithEndpoint(ep)
		opts := []otlptracehttp.Option{opt, otlptracehttp.WithInsecure()}
		if strings.Contains(ep, "://") {
			opts = []otlptracehttp.Option{otlptracehttp.WithEndpointURL(ep)}
		}
		// New does not connect: an unreachable collector shows up as
		// export errors, not as a refusal to start.
		exp, err := otlptracehttp.New(context.Background(), opts...)
		if err != nil {
			return nil, fmt.Errorf("OTLP exporter: %w", err)
		}
		return exp, nil
	}
	out := cfg.TraceOut
	if out == nil {
		out = io.Discard
	}
	exp, err := stdouttrace.New(stdouttrace.WithWriter(out))
	if err != nil {
		return nil, fmt.Errorf("stdout trace exporter: %w", err)
	}
	return exp, nil
}

// options are the mediator options that feed the SDK: the lock metrics
// always, the tracing behaviors with -trace. They go first, so that the
// spans are outermost.
func (t *telemetry) options() []mediator.Option {
	opts := []mediator.Option{locking.WithObserver(t.metrics)}
	if t.tracer != nil {
		opts = append(opts, otelmediator.WithTracing(otelmediator.WithTracerProvider(t.tracer)))
	}
	return opts
}

// metricsHandler serves the registry in the Prometheus text format.
func (t *telemetry) metricsHandler() http.Handler {
	return promhttp.HandlerFor(t.registry, promhttp.HandlerOpts{})
}

// describe says what -trace does, for the startup line.
func (t *telemetry) describe(cfg Telemetry) string {
	switch {
	case t.tracer == nil:
		return ""
	case cfg.OTLPEndpoint != "":
		return ", traces: OTLP " + cfg.OTLPEndpoint
	}
	return ", traces: stdout"
}

// shutdown flushes the spans not yet exported and stops the providers.
func (t *telemetry) shutdown(ctx context.Context) error {
	errs := []error{t.meters.Shutdown(ctx)}
	if t.tracer != nil {
		errs = append(errs, t.tracer.Shutdown(ctx))
	}
	return errors.Join(errs...)
}
