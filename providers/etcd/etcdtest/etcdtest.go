// Package etcdtest runs real etcd servers for tests: [Start] launches one
// member, [StartCluster] a cluster of several, each member a process of its
// own on free loopback ports with its data in a temporary directory (on
// /dev/shm when there is one, so fsync is cheap). The test's cleanup stops
// every member. Faults are injected on the real processes: [Member.Stop],
// [Member.Start] (same ports, same data), [Member.Kill] (SIGKILL),
// [Member.Pause] and [Member.Resume] (SIGSTOP/SIGCONT); and, for a cluster
// started by [StartClusterWithPeerNet], a member cut off from its peers
// ([PeerNet.Isolate]).
//
// The binary is etcd from /usr/bin or PATH, or the file named by the
// environment variable ETCD_BIN. When it is missing the test is skipped with
// a loud message, except with CI=true, where a missing binary fails the test.
//
// Goroutines: a member owns one goroutine per etcd process it starts (it
// waits for the process to exit), which ends when the process does.
//
// It is test support, not part of the provider: the provider's tests and the
// bank sample's (a module of its own, which an internal package would not
// serve) use it. Its API may change with them.
package etcdtest

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds how long a member may take to serve its health
// endpoint after it was started.
const startTimeout = 30 * time.Second

// Cluster is a set of etcd members that form one cluster.
type Cluster struct {
	Members []*Member
}

// Member is one etcd process of a cluster.
type Member struct {
	tb         testing.TB
	bin        string
	name       string
	dir        string
	clientPort int
	peerPort   int
	advertised int    // the peer port the others dial: peerPort, or a PeerNet proxy's
	initial    string // --initial-cluster

	mu     sync.Mutex
	proc   *exec.Cmd
	exited chan struct{}
	paused bool
	log    bytes.Buffer // guarded by logMu
	logMu  sync.Mutex
}

// Start launches a one-member cluster.
func Start(tb testing.TB) *Cluster {
	tb.Helper()
	return StartCluster(tb, 1)
}

// StartCluster launches a cluster of n members on free loopback ports,
// waits until every member reports healthy (a leader is elected), and
// registers tb.Cleanup to stop them all. It skips the test (or, with
// CI=true, fails it) when etcd is not installed.
func StartCluster(tb testing.TB, n int) *Cluster {
	tb.Helper()
	return startCluster(tb, n, nil)
}

// startCluster is StartCluster; when pn is not nil, each member's peers
// reach it through a proxy of pn.
func startCluster(tb testing.TB, n int, pn *PeerNet) *Cluster {
	tb.Helper()
	bin := lookBinary(tb)
	ports, err := freePorts(2 * n)
	if err != nil {
		tb.Fatalf("etcdtest: %v", err)
	}
	c := &Cluster{}
	var initial []string
	for i := range n {
		m := &Member{
			tb:         tb,
			bin:        bin,
			name:       fmt.Sprintf("m%d", i),
			dir:        tempDir(tb),
			clientPort: ports[2*i],
			peerPort:   ports[2*i+1],
		}
		m.advertised = m.peerPort
		if pn != nil {
			port, err := pn.add(tb, i, m.peerPort)
			if err != nil {
				tb.Fatalf("etcdtest: %v", err)
			}
			m.advertised = port
		}
		initial = append(initial, fmt.Sprintf("%s=http://127.0.0.1:%d", m.name, m.advertised))
		c.Members = append(c.Members, m)
	}
	for _, m := range c.Members {
		m.initial = strings.Join(initial, ",")
		tb.Cleanup(m.Stop)
		if err := m.launch(); err != nil {
			tb.Fatalf("etcdtest: %v", err)
		}
	}
	for _, m := range c.Members {
		if err := m.waitHealthy(); err != nil {
			tb.Fatalf("etcdtest: %v\n%s", err, m.Log())
		}
	}
	return c
}

// Endpoints returns every member's client URL.
func (c *Cluster) Endpoints() []string {
	var out []string
	for _, m := range c.Members {
		out = append(out, m.Endpoint())
	}
	return out
}

// Endpoint returns the member's client URL, "http://127.0.0.1:PORT"; it
// stays the same across Stop and Start.
func (m *Member) Endpoint() string { return fmt.Sprintf("http://127.0.0.1:%d", m.clientPort) }

// ClientAddr returns the member's client "127.0.0.1:PORT".
func (m *Member) ClientAddr() string { return fmt.Sprintf("127.0.0.1:%d", m.clientPort) }

// Name returns the member's name in the cluster ("m0", "m1", ...).
func (m *Member) Name() string { return m.name }

func (m *Member) launch() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc != nil {
		return nil
	}
	state := "new"
	if _, err := os.Stat(filepath.Join(m.dir, "member")); err == nil {
		state = "existing"
	}
	cmd := exec.Command(m.bin,
		"--name", m.name,
		"--data-dir", m.dir,
		"--listen-client-urls", m.Endpoint(),
		"--advertise-client-urls", m.Endpoint(),
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", m.peerPort),
		"--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", m.advertised),
		"--initial-cluster", m.initial,
		"--initial-cluster-state", state,
		"--initial-cluster-token", "etcdtest",
		"--heartbeat-interval", "50",
		"--election-timeout", "500",
		"--logger", "zap",
		"--log-outputs", "stderr",
	)
	w := &lockedWriter{m: m}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting etcd %s: %w", m.name, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	m.proc, m.exited, m.paused = cmd, exited, false
	return nil
}

type lockedWriter struct{ m *Member }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.m.logMu.Lock()
	defer w.m.logMu.Unlock()
	if w.m.log.Len() < 4<<20 {
		w.m.log.Write(p)
	}
	return len(p), nil
}

// Log returns what the member printed (its first 4 MiB).
func (m *Member) Log() string {
	m.logMu.Lock()
	defer m.logMu.Unlock()
	return m.log.String()
}

// waitHealthy polls the member's /health endpoint until it reports a
// leader, or fails after startTimeout.
func (m *Member) waitHealthy() error {
	deadline := time.Now().Add(startTimeout)
	hc := &http.Client{Timeout: time.Second}
	for {
		m.mu.Lock()
		exited := m.exited
		m.mu.Unlock()
		select {
		case <-exited:
			return fmt.Errorf("etcd %s exited while starting", m.name)
		default:
		}
		resp, err := hc.Get(m.Endpoint() + "/health")
		if err == nil {
			var b bytes.Buffer
			_, _ = b.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.Contains(b.String(), `"true"`) {
				hc.CloseIdleConnections()
				return nil
			}
		}
		if time.Now().After(deadline) {
			hc.CloseIdleConnections()
			return fmt.Errorf("etcd %s not healthy within %s: %v", m.name, startTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitHealthy waits until the member reports a leader; it fails the test
// after 30s.
func (m *Member) WaitHealthy() {
	m.tb.Helper()
	if err := m.waitHealthy(); err != nil {
		m.tb.Fatalf("etcdtest: %v", err)
	}
}

// Start starts a stopped member again on its ports with its data. Starting
// a running member does nothing. It does not wait for the member to be
// healthy (a member alone in a 3-member cluster never is): see WaitHealthy.
func (m *Member) Start() {
	m.tb.Helper()
	var err error
	for range 20 { // the old listeners may take a moment to go
		if err = m.launch(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	m.tb.Fatalf("etcdtest: %v", err)
}

// Stop ends the member gracefully (SIGTERM; SIGKILL if it lingers) and
// waits until it has exited. Stopping a stopped member does nothing.
func (m *Member) Stop() { m.end(syscall.SIGTERM) }

// Kill ends the member with SIGKILL, as a crash would, and waits until it
// has exited.
func (m *Member) Kill() { m.end(syscall.SIGKILL) }

func (m *Member) end(sig syscall.Signal) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc == nil {
		return
	}
	if m.paused {
		_ = m.proc.Process.Signal(syscall.SIGCONT)
	}
	_ = m.proc.Process.Signal(sig)
	select {
	case <-m.exited:
	case <-time.After(10 * time.Second):
		_ = m.proc.Process.Kill()
		<-m.exited
	}
	m.proc, m.paused = nil, false
}

// Pause freezes the member with SIGSTOP; Resume continues it. The cleanup
// resumes a paused member before stopping it.
func (m *Member) Pause() { m.signal(syscall.SIGSTOP, true) }

// Resume continues a member frozen by Pause.
func (m *Member) Resume() { m.signal(syscall.SIGCONT, false) }

func (m *Member) signal(sig syscall.Signal, paused bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc == nil {
		return
	}
	if err := m.proc.Process.Signal(sig); err != nil {
		m.tb.Errorf("etcdtest: signalling %s: %v", m.name, err)
	}
	m.paused = paused
}

// Running reports whether the member's process is running.
func (m *Member) Running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.proc != nil
}

// lookBinary finds etcd, skipping or failing the test without it.
func lookBinary(tb testing.TB) string {
	tb.Helper()
	for _, name := range []string{os.Getenv("ETCD_BIN"), "/usr/bin/etcd", "etcd"} {
		if name == "" {
			continue
		}
		if bin, err := exec.LookPath(name); err == nil {
			return bin
		}
	}
	msg := "etcdtest: etcd not found (install the Debian package etcd-server, or set ETCD_BIN)"
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		tb.Fatal(msg + " — CI=true, so this is a failure, not a skip")
	}
	tb.Skip("\n" + strings.Repeat("!", 78) + "\n!!! SKIPPED: " + msg + "\n" + strings.Repeat("!", 78))
	return ""
}

// tempDir returns a directory removed at cleanup, on /dev/shm when it
// exists.
func tempDir(tb testing.TB) string {
	tb.Helper()
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		d, err := os.MkdirTemp("/dev/shm", "etcdtest-")
		if err == nil {
			tb.Cleanup(func() { _ = os.RemoveAll(d) })
			return d
		}
	}
	return tb.TempDir()
}

// freePorts returns n distinct free loopback ports, found by holding n
// listeners on :0 at once and closing them.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
