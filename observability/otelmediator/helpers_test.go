package otelmediator_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// ping is a request without a lock; Fail makes its handler fail, Panic panic.
type ping struct {
	mediator.Query[string]
	Fail  bool
	Panic bool
}

var errPing = errors.New("ping failed")

func handlePing(_ context.Context, p ping) (string, error) {
	if p.Panic {
		panic("ping panicked")
	}
	if p.Fail {
		return "", errPing
	}
	return "pong", nil
}

// withdraw takes the lock "acct:<ID>", one try.
type withdraw struct {
	mediator.Command[int]
	locking.DistributedLock `lock:"prefix=acct,timeout=0"`
	ID                      string
}

func (w withdraw) LockKey() string { return w.ID }

func build(t testing.TB, opts ...mediator.Option) *mediator.Mediator {
	t.Helper()
	m, err := mediator.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close(context.Background()) })
	return m
}

func recorder(t *testing.T) (*sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, rec
}

// attrs prints attributes sorted by key, "k=v" joined by ", ", with the
// values of the keys in vary replaced by their type, for exact comparison.
func attrs(kvs []attribute.KeyValue, vary ...attribute.Key) string {
	s := make([]string, 0, len(kvs))
	for _, kv := range kvs {
		v := kv.Value.String()
		for _, k := range vary {
			if kv.Key == k {
				v = "<" + strings.ToLower(kv.Value.Type().String()) + ">"
			}
		}
		s = append(s, fmt.Sprintf("%s=%s", kv.Key, v))
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}

// events prints a span's events, one per line: "name: attrs".
func events(s sdktrace.ReadOnlySpan, vary ...attribute.Key) string {
	var b strings.Builder
	for _, e := range s.Events() {
		fmt.Fprintf(&b, "%s: %s\n", e.Name, attrs(e.Attributes, vary...))
	}
	return b.String()
}
