package otelmediator

import (
	"fmt"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// config is what the options set.
type config struct {
	tracerProvider trace.TracerProvider
	meterProvider  metric.MeterProvider
}

func newConfig(opts []Option) config {
	var c config
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	return c
}

// Option configures [WithTracing], [WithTypeTracing], [NewLockMetrics] and
// [WithLockMetrics]. Each option prints itself.
type Option interface {
	apply(c *config)
	String() string
}

type tracerProviderOption struct{ tp trace.TracerProvider }

func (o tracerProviderOption) apply(c *config) { c.tracerProvider = o.tp }
func (o tracerProviderOption) String() string {
	return fmt.Sprintf("otelmediator.WithTracerProvider(%T)", o.tp)
}

// WithTracerProvider makes the tracing behavior take its tracer from tp
// instead of the global provider. A nil tp means the global one.
func WithTracerProvider(tp trace.TracerProvider) Option { return tracerProviderOption{tp} }

type meterProviderOption struct{ mp metric.MeterProvider }

func (o meterProviderOption) apply(c *config) { c.meterProvider = o.mp }
func (o meterProviderOption) String() string {
	return fmt.Sprintf("otelmediator.WithMeterProvider(%T)", o.mp)
}

// WithMeterProvider makes the lock metrics take their meter from mp instead
// of the global provider. A nil mp means the global one.
func WithMeterProvider(mp metric.MeterProvider) Option { return meterProviderOption{mp} }
