package modcheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// heavy are module path prefixes that only the nested provider modules may
// bring into an application's module graph.
var heavy = []string{"go.etcd.io/", "google.golang.org/grpc", "github.com/jackc/pgx", otelSDK}

// otelSDK is the OpenTelemetry SDK: the observability/otelmediator module
// needs only the API, and the SDK (a test dependency there) is the
// application's choice.
const otelSDK = "go.opentelemetry.io/otel/sdk"

// appGraph builds a throw-away application module importing pkgs, with the
// repository's modules replaced by this checkout, tidies it and returns its
// `go mod graph`.
func appGraph(t *testing.T, requires map[string]string, pkgs ...string) string {
	t.Helper()
	graph, _ := app(t, requires, pkgs...)
	return graph
}

// app is appGraph that also returns the packages the application builds
// (`go list -deps`).
func app(t *testing.T, requires map[string]string, pkgs ...string) (graph, deps string) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs go mod tidy")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var mod strings.Builder
	mod.WriteString("module example.com/app\n\ngo 1.26.8\n\n")
	for path, sub := range requires {
		mod.WriteString("require " + path + " v0.0.0\n")
		mod.WriteString("replace " + path + " => " + filepath.Join(root, sub) + "\n")
	}
	var src strings.Builder
	src.WriteString("package main\n\nimport (\n")
	for _, p := range pkgs {
		src.WriteString("\t_ \"" + p + "\"\n")
	}
	src.WriteString(")\n\nfunc main() {}\n")
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(mod.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("mod", "tidy")
	return run("mod", "graph"), run("list", "-deps", ".")
}

// heavyLines returns the lines of graph that name a heavy module.
func heavyLines(graph string) []string {
	var out []string
	for _, line := range strings.Split(graph, "\n") {
		for _, h := range heavy {
			if strings.Contains(line, h) {
				out = append(out, line)
				break
			}
		}
	}
	return out
}

const root = "github.com/turbomediator/turbomediator-go"

// TestRedisAppGraphHasNoEtcdNorGRPC is the promise of the nested etcd
// module: an application on the mediator, the locking behavior and the
// Redis and Redlock providers sees neither etcd nor gRPC in `go mod graph`.
func TestRedisAppGraphHasNoEtcdNorGRPC(t *testing.T) {
	graph := appGraph(t, map[string]string{root: "."},
		root+"/mediator", root+"/behaviors/locking", root+"/providers/redis", root+"/providers/redis/redlock")
	if !strings.Contains(graph, "github.com/redis/go-redis/v9") {
		t.Fatalf("the graph lacks go-redis, so it is not the graph of a Redis app:\n%s", graph)
	}
	if lines := heavyLines(graph); len(lines) > 0 {
		t.Fatalf("an app without etcd has etcd or gRPC in its module graph:\n%s", strings.Join(lines, "\n"))
	}
}

// TestEtcdAppGraphHasEtcd is the control: the same check finds etcd in the
// graph of an application that does use the etcd provider.
func TestEtcdAppGraphHasEtcd(t *testing.T) {
	graph := appGraph(t, map[string]string{root: ".", root + "/providers/etcd": "providers/etcd"},
		root+"/mediator", root+"/providers/etcd")
	if len(heavyLines(graph)) == 0 {
		t.Fatalf("the graph of an etcd app shows no etcd nor gRPC: the check would not see them:\n%s", graph)
	}
}

// TestOtelAppBuildsNoSDKPackage: an application that uses the observability
// module gets the OpenTelemetry API; its module graph may name the SDK (the
// module's tests use it), but no SDK package is built into it.
func TestOtelAppBuildsNoSDKPackage(t *testing.T) {
	graph, deps := app(t, map[string]string{root: ".", root + "/observability/otelmediator": "observability/otelmediator"},
		root+"/mediator", root+"/observability/otelmediator")
	if !strings.Contains(graph, "go.opentelemetry.io/otel/trace") || !strings.Contains(deps, "go.opentelemetry.io/otel/trace\n") {
		t.Fatalf("an app on otelmediator lacks the OpenTelemetry API: the check would not see it:\n%s\n%s", graph, deps)
	}
	if strings.Contains(deps, otelSDK) {
		t.Fatalf("an app on otelmediator builds SDK packages:\n%s", deps)
	}
}

// TestPostgresAppGraphHasPgx is the control for pgx: the check finds it in
// the graph of an application that uses the PostgreSQL provider.
func TestPostgresAppGraphHasPgx(t *testing.T) {
	graph := appGraph(t, map[string]string{root: ".", root + "/providers/postgres": "providers/postgres"},
		root+"/mediator", root+"/providers/postgres")
	if len(heavyLines(graph)) == 0 || !strings.Contains(graph, "github.com/jackc/pgx/v5") {
		t.Fatalf("the graph of a PostgreSQL app shows no pgx: the check would not see it:\n%s", graph)
	}
}
