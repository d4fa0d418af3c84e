package otelmediator_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/observability/otelmediator"
)

// globalChild is set in the environment of the process that
// TestGlobalProviderInstalledAfterBuild starts: installing a global
// provider cannot be undone, so it happens in a process of its own.
const globalChild = "OTELMEDIATOR_TEST_GLOBAL_CHILD"

// TestGlobalProviderDecidedAtBuild: with no provider option, every form
// decides at Build whether spans could record. Mediators built while no SDK
// is installed behind the global provider trace nothing, even after one is
// installed; mediators built afterwards trace through it.
func TestGlobalProviderDecidedAtBuild(t *testing.T) {
	if os.Getenv(globalChild) != "1" {
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(exe, "-test.run", "^TestGlobalProviderDecidedAtBuild$", "-test.count", "1", "-test.v")
		cmd.Env = append(os.Environ(), globalChild+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestGlobalProviderDecidedAtBuild") {
			t.Fatalf("child: %v\n%s", err, out)
		}
		return
	}
	var inside trace.SpanContext
	handler := mediator.WithHandler[ping, string](func(ctx context.Context, p ping) (string, error) {
		inside = trace.SpanContextFromContext(ctx)
		return "pong", nil
	})
	forms := func() []*mediator.Mediator {
		return []*mediator.Mediator{
			build(t, otelmediator.WithTracing(), handler),
			build(t, otelmediator.WithTypeTracing[ping, string](), handler),
		}
	}
	before := forms()
	ctx := context.Background()
	for _, m := range before {
		if _, err := mediator.Send(ctx, m, ping{}); err != nil {
			t.Fatal(err)
		}
		if inside.IsValid() {
			t.Fatalf("a span before any SDK: %v", inside)
		}
	}

	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	otel.SetTracerProvider(tp)
	for _, m := range before {
		if _, err := mediator.Send(ctx, m, ping{}); err != nil {
			t.Fatal(err)
		}
		if inside.IsValid() {
			t.Fatalf("a mediator built before the SDK traced: %v", inside)
		}
	}
	for _, m := range forms() {
		if _, err := mediator.Send(ctx, m, ping{}); err != nil {
			t.Fatal(err)
		}
		if !inside.IsValid() {
			t.Fatal("no span from a mediator built after the SDK was installed")
		}
	}
	spans := rec.Ended()
	if len(spans) != 2 || spans[0].Name() != "otelmediator_test.ping" || spans[1].Name() != "otelmediator_test.ping" {
		t.Fatalf("%d spans, want 2 named otelmediator_test.ping", len(spans))
	}
}
