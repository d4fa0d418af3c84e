package redistest_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/turbomediator/turbomediator-go/internal/redistest"
)

// do sends one inline command and returns the first reply line.
func do(t *testing.T, addr, cmd string, timeout time.Duration) (string, error) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	if _, err := fmt.Fprintf(conn, "%s\r\n", cmd); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	return strings.TrimSpace(line), err
}

func TestStartServesOnLoopbackWithoutPersistence(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	s := redistest.Start(t)
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") {
		t.Fatalf("Addr() = %q, want 127.0.0.1:PORT", s.Addr())
	}
	if got, err := do(t, s.Addr(), "SET k v", time.Second); err != nil || got != "+OK" {
		t.Fatalf("SET = %q, %v", got, err)
	}
	if got, _ := do(t, s.Addr(), "CONFIG GET save", time.Second); got != "*2" {
		t.Fatalf("CONFIG GET save = %q", got)
	}
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "CONFIG GET save\r\n")
	r := bufio.NewReader(conn)
	var lines []string
	for range 5 {
		l, _ := r.ReadString('\n')
		lines = append(lines, strings.TrimSpace(l))
	}
	if lines[4] != "" || lines[3] != "$0" {
		t.Fatalf("save is not empty: %q", lines)
	}
}

func TestTwoServersGetDistinctPorts(t *testing.T) {
	a, b := redistest.Start(t), redistest.Start(t)
	if a.Addr() == b.Addr() {
		t.Fatalf("both servers on %s", a.Addr())
	}
}

func TestStopRefusesAndRestartServesOnTheSamePortEmpty(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	s := redistest.Start(t)
	addr := s.Addr()
	if got, _ := do(t, addr, "SET k v", time.Second); got != "+OK" {
		t.Fatalf("SET = %q", got)
	}
	s.Stop()
	if s.Running() {
		t.Fatal("Running() after Stop")
	}
	if _, err := do(t, addr, "PING", time.Second); err == nil {
		t.Fatal("PING answered after Stop")
	}
	s.Restart()
	if s.Addr() != addr {
		t.Fatalf("Restart moved from %s to %s", addr, s.Addr())
	}
	if got, err := do(t, addr, "EXISTS k", time.Second); err != nil || got != ":0" {
		t.Fatalf("EXISTS k after restart = %q, %v; want :0 (no persistence)", got, err)
	}
}

func TestKillEndsTheServerAtOnce(t *testing.T) {
	s := redistest.Start(t)
	s.Kill()
	if _, err := do(t, s.Addr(), "PING", time.Second); err == nil {
		t.Fatal("PING answered after Kill")
	}
	s.Restart()
	if got, _ := do(t, s.Addr(), "PING", time.Second); got != "+PONG" {
		t.Fatalf("PING after Restart = %q", got)
	}
}

func TestPauseStopsAnsweringUntilResume(t *testing.T) {
	s := redistest.Start(t)
	s.Pause()
	if _, err := do(t, s.Addr(), "PING", 200*time.Millisecond); err == nil {
		t.Fatal("a paused server answered")
	}
	s.Resume()
	if got, err := do(t, s.Addr(), "PING", time.Second); got != "+PONG" {
		t.Fatalf("PING after Resume = %q, %v", got, err)
	}
}

func TestCleanupStopsAPausedServer(t *testing.T) {
	var addr string
	t.Run("inner", func(t *testing.T) {
		s := redistest.Start(t)
		addr = s.Addr()
		s.Pause()
	})
	if _, err := do(t, addr, "PING", 200*time.Millisecond); err == nil {
		t.Fatal("server still answers after its test's cleanup")
	}
}

func TestWithArgsReachesTheServer(t *testing.T) {
	s := redistest.Start(t, redistest.WithArgs("--notify-keyspace-events", "Kgx"))
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "CONFIG GET notify-keyspace-events\r\n")
	r := bufio.NewReader(conn)
	var last string
	for range 5 {
		l, _ := r.ReadString('\n')
		last = strings.TrimSpace(l)
	}
	// Redis normalises the flag order.
	if len(last) != 3 || !strings.ContainsRune(last, 'K') || !strings.ContainsRune(last, 'g') || !strings.ContainsRune(last, 'x') {
		t.Fatalf("notify-keyspace-events = %q, want the flags K, g and x", last)
	}
}

func TestSpawnRunsThisTestAsAChild(t *testing.T) {
	if role := redistest.ChildRole(); role != "" {
		fmt.Printf("child role=%s value=%s\n", role, os.Getenv("EXTRA"))
		if role == "fail" {
			t.Fatal("failing on purpose")
		}
		return
	}
	c := redistest.Spawn(t, "echo", "EXTRA=42")
	if err := c.Wait(time.Minute); err != nil {
		t.Fatalf("child: %v\n%s", err, c.Output())
	}
	if !strings.Contains(c.Output(), "child role=echo value=42") {
		t.Fatalf("child output lacks its line:\n%s", c.Output())
	}
	f := redistest.Spawn(t, "fail")
	if err := f.Wait(time.Minute); err == nil {
		t.Fatalf("a failing child reported success:\n%s", f.Output())
	}
}

func TestRunPatternMatchesSubtestsExactly(t *testing.T) {
	for name, want := range map[string]string{
		"TestA":         "^TestA$",
		"TestA/sub_one": "^TestA$/^sub_one$",
		"TestA/x.y":     `^TestA$/^x\.y$`,
	} {
		if got := redistest.RunPattern(name); got != want {
			t.Errorf("RunPattern(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestMissingBinarySkipsLocallyAndFailsOnCI(t *testing.T) {
	if role := redistest.ChildRole(); role != "" {
		redistest.Start(t)
		t.Fatal("Start returned without a redis-server binary")
		return
	}
	local := redistest.Spawn(t, "local", "REDIS_SERVER_BIN=/nonexistent/redis-server", "CI=")
	if err := local.Wait(time.Minute); err != nil {
		t.Fatalf("without CI a missing binary must skip, got %v:\n%s", err, local.Output())
	}
	if out := local.Output(); !strings.Contains(out, "--- SKIP") || !strings.Contains(out, "SKIPPED: redistest: redis-server not found") {
		t.Fatalf("no loud skip in:\n%s", out)
	}
	ci := redistest.Spawn(t, "ci", "REDIS_SERVER_BIN=/nonexistent/redis-server", "CI=true")
	if err := ci.Wait(time.Minute); err == nil {
		t.Fatalf("with CI=true a missing binary must fail the test:\n%s", ci.Output())
	}
	if out := ci.Output(); !strings.Contains(out, "--- FAIL") || !strings.Contains(out, "CI=true, so this is a failure") {
		t.Fatalf("no CI failure message in:\n%s", out)
	}
}

func TestStartClusterServesEverySlot(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	c := redistest.StartCluster(t, 3)
	if len(c.Addrs()) != 3 {
		t.Fatalf("Addrs() = %q", c.Addrs())
	}
	for _, addr := range c.Addrs() {
		info, err := redistest.Command(addr, "CLUSTER", "INFO")
		if err != nil || !strings.Contains(info, "cluster_slots_assigned:16384") {
			t.Fatalf("%s: %v\n%s", addr, err, info)
		}
	}
	// A key lands on exactly one node: the others redirect.
	owners := 0
	for _, addr := range c.Addrs() {
		if _, err := redistest.Command(addr, "SET", "k", "v"); err == nil {
			owners++
		} else if !strings.Contains(err.Error(), "MOVED") {
			t.Fatalf("%s: %v", addr, err)
		}
	}
	if owners != 1 {
		t.Fatalf("%d nodes accepted the key, want 1", owners)
	}
}

func TestStartSentinelMonitorsTheMaster(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	master := redistest.Start(t)
	s := redistest.StartSentinel(t, "mymaster", master)
	got, err := redistest.Command(s.Addr(), "SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")
	if want := "127.0.0.1\n" + strconv.Itoa(master.Port()); err != nil || got != want {
		t.Fatalf("master address = %q, %v; want %q", got, err, want)
	}
}

func TestCommandReadsEveryReplyKind(t *testing.T) {
	s := redistest.Start(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"SET", "k", "v"}, "OK"},
		{[]string{"GET", "k"}, "v"},
		{[]string{"GET", "missing"}, ""},
		{[]string{"INCR", "n"}, "1"},
		{[]string{"RPUSH", "l", "a", "b"}, "2"},
		{[]string{"LRANGE", "l", "0", "-1"}, "a\nb"},
	} {
		if got, err := redistest.Command(s.Addr(), tc.args...); err != nil || got != tc.want {
			t.Errorf("%q = %q, %v; want %q", tc.args, got, err, tc.want)
		}
	}
	if _, err := redistest.Command(s.Addr(), "NOSUCHCOMMAND"); err == nil {
		t.Error("an error reply came back as a value")
	}
}
