package redis_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/internal/redistest"
)

// TestGoRedisLogsNothingInTests runs this test binary as a child that dials
// a port where nothing listens, and checks that go-redis's "failed to dial"
// line did not reach the output: TestMain silences go-redis's logger.
func TestGoRedisLogsNothingInTests(t *testing.T) {
	if redistest.ChildRole() == "dial" {
		srv := start(t)
		addr := srv.Addr()
		srv.Stop()
		c := newClient(t, addr)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.Ping(ctx).Err(); err == nil {
			t.Fatal("PING answered on a stopped server")
		}
		return
	}
	if redistest.ChildRole() != "" {
		return
	}
	child := redistest.Spawn(t, "dial")
	if err := child.Wait(time.Minute); err != nil {
		t.Fatalf("child: %v\n%s", err, child.Output())
	}
	if out := child.Output(); strings.Contains(out, "failed to dial") || !strings.Contains(out, "PASS") {
		t.Fatalf("the child's output, want a PASS without go-redis's log lines:\n%s", out)
	}
}
