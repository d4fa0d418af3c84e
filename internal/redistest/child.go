package redistest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ChildEnv is the environment variable through which a child started by
// Spawn learns its role. A process without it is not a child.
const ChildEnv = "REDISTEST_CHILD"

// ChildRole returns the role Spawn gave this process, or "" in a process
// that was not started by Spawn. A test that spawns children begins with
//
//	if role := redistest.ChildRole(); role != "" {
//		runChild(t, role) // the child's part, then return
//		return
//	}
func ChildRole() string { return os.Getenv(ChildEnv) }

// Child is a copy of the test binary running one test as a child process.
type Child struct {
	tb      testing.TB
	cmd     *exec.Cmd
	outPath string
	exited  chan struct{} // closed by the waiter goroutine when the process has exited
	err     error         // set before exited closes
}

// Spawn runs the current test binary again as a child process that executes
// only the calling test (tb.Name(), subtests included), with ChildEnv=role and
// the extra environment entries env ("KEY=value"). The child's output goes to
// a file that Output returns and that is logged if the test fails. Cleanup
// kills a child that is still running.
func Spawn(tb testing.TB, role string, env ...string) *Child {
	tb.Helper()
	return SpawnTest(tb, tb.Name(), role, env...)
}

// SpawnTest is Spawn for a child that runs the test named test rather than
// the caller's: a benchmark, which a child cannot run as a test, keeps the
// child's part in a Test function that does nothing outside a child.
func SpawnTest(tb testing.TB, test, role string, env ...string) *Child {
	tb.Helper()
	if role == "" {
		tb.Fatal("redistest: Spawn needs a non-empty role")
	}
	exe, err := os.Executable()
	if err != nil {
		tb.Fatalf("redistest: finding the test binary: %v", err)
	}
	out, err := os.CreateTemp(tb.TempDir(), "child-"+sanitize(role)+"-*.log")
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	defer out.Close()
	cmd := exec.Command(exe,
		"-test.run="+RunPattern(test),
		"-test.count=1",
		"-test.v",
		"-test.timeout=5m",
	)
	cmd.Env = append(append(os.Environ(), ChildEnv+"="+role), env...)
	// A file, not a pipe: exec starts no copying goroutines.
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		tb.Fatalf("redistest: starting child %q: %v", role, err)
	}
	c := &Child{tb: tb, cmd: cmd, outPath: out.Name(), exited: make(chan struct{})}
	// The waiter goroutine ends when the child exits; cleanup kills it if
	// the test has not waited for it.
	go func() {
		c.err = cmd.Wait()
		close(c.exited)
	}()
	tb.Cleanup(func() {
		_ = c.cmd.Process.Kill()
		<-c.exited
		if tb.Failed() {
			tb.Logf("redistest: output of child %q (pid %d):\n%s", role, cmd.Process.Pid, c.Output())
		}
	})
	return c
}

// RunPattern returns the -test.run pattern that matches exactly the test
// named name ("TestX" or "TestX/sub").
func RunPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == filepath.Separator || r == '*' {
			return '_'
		}
		return r
	}, s)
}

// Pid returns the child's process id.
func (c *Child) Pid() int { return c.cmd.Process.Pid }

// Exited returns a channel closed when the child has exited.
func (c *Child) Exited() <-chan struct{} { return c.exited }

// Wait waits up to timeout for the child to exit and returns its exit error
// (nil when its test passed). A child still running at the timeout is killed
// and Wait reports that.
func (c *Child) Wait(timeout time.Duration) error {
	select {
	case <-c.exited:
		return c.err
	case <-time.After(timeout):
		_ = c.cmd.Process.Kill()
		<-c.exited
		return fmt.Errorf("redistest: child pid %d still running after %s, killed", c.Pid(), timeout)
	}
}

// Kill ends the child with SIGKILL, as a crash would, and waits until it has
// exited.
func (c *Child) Kill() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.exited
}

// Signal sends sig to the child (SIGSTOP to freeze it, say).
func (c *Child) Signal(sig os.Signal) error { return c.cmd.Process.Signal(sig) }

// Output returns what the child has written so far.
func (c *Child) Output() string {
	b, err := os.ReadFile(c.outPath)
	if err != nil {
		return err.Error()
	}
	return string(b)
}
