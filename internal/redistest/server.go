package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
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

// startTimeout bounds how long a redis-server may take to answer PING.
const startTimeout = 10 * time.Second

// stopTimeout bounds how long a SIGTERM'd redis-server may take to exit
// before it is killed.
const stopTimeout = 5 * time.Second

// Server is one redis-server process on 127.0.0.1, owned by one test.
// Its methods are safe for concurrent use.
type Server struct {
	tb   testing.TB
	bin  string
	dir  string
	args []string
	// sentinel, when set, makes the process a Sentinel with this
	// configuration (written afresh before each start: Sentinel rewrites it).
	sentinel string

	mu     sync.Mutex
	port   int
	proc   *process // nil while stopped
	paused bool
	starts int // for distinct log file names across restarts
}

// process is one run of redis-server; exited is closed by its waiter
// goroutine when the process has exited and been reaped.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // set before exited closes
}

// Option changes how Start runs redis-server.
type Option func(*config)

type config struct {
	args     []string
	sentinel string
}

// WithArgs adds command-line arguments for redis-server, such as
// "--notify-keyspace-events", "Kgx" or "--maxmemory", "10mb".
func WithArgs(args ...string) Option {
	return func(c *config) { c.args = append(c.args, args...) }
}

// Start launches a redis-server on a free loopback port, waits until it
// answers PING, and registers tb.Cleanup to stop it. It skips the test (or,
// with CI=true, fails it) when redis-server is not installed.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	var c config
	for _, o := range opts {
		o(&c)
	}
	bin := lookBinary(tb)
	s := &Server{tb: tb, bin: bin, dir: tb.TempDir(), args: c.args, sentinel: c.sentinel}
	tb.Cleanup(s.shutdown)

	// The port is chosen by closing a listener on :0; another process may
	// take it before redis-server binds, so a failed start tries a new port.
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			tb.Fatalf("redistest: %v", err)
		}
		s.mu.Lock()
		s.port = port
		lastErr = s.startLocked()
		s.mu.Unlock()
		if lastErr == nil {
			return s
		}
	}
	tb.Fatalf("redistest: redis-server did not start: %v", lastErr)
	return nil
}

// lookBinary finds redis-server, skipping or failing the test without it.
func lookBinary(tb testing.TB) string {
	tb.Helper()
	name := "redis-server"
	if bin := os.Getenv("REDIS_SERVER_BIN"); bin != "" {
		name = bin
	}
	bin, err := exec.LookPath(name)
	if err == nil {
		return bin
	}
	msg := "redistest: redis-server not found (install the Debian package redis-server, or set REDIS_SERVER_BIN): " + err.Error()
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		tb.Fatal(msg + " — CI=true, so this is a failure, not a skip")
	}
	tb.Skip("\n" + strings.Repeat("!", 78) + "\n!!! SKIPPED: " + msg + "\n" + strings.Repeat("!", 78))
	return ""
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Addr returns "127.0.0.1:PORT". It stays the same across Restart.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// Port returns the TCP port the server listens on.
func (s *Server) Port() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.port
}

// startLocked runs redis-server on s.port and waits for PING.
func (s *Server) startLocked() error {
	s.starts++
	logPath := filepath.Join(s.dir, fmt.Sprintf("redis-%d.log", s.starts))
	args := []string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--logfile", logPath,
		"--daemonize", "no",
	}
	if s.sentinel != "" {
		conf := filepath.Join(s.dir, "sentinel.conf")
		if err := os.WriteFile(conf, []byte(s.sentinel), 0o600); err != nil {
			return err
		}
		args = []string{conf, "--sentinel",
			"--port", strconv.Itoa(s.port),
			"--bind", "127.0.0.1",
			"--dir", s.dir,
			"--logfile", logPath,
			"--daemonize", "no",
		}
	}
	args = append(args, s.args...)
	cmd := exec.Command(s.bin, args...)
	// Not a pipe: with *os.File destinations exec starts no copying goroutines.
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer devnull.Close()
	cmd.Stdout, cmd.Stderr = devnull, devnull
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", s.bin, err)
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	// The waiter goroutine ends when the process exits; stop, kill and the
	// test's cleanup all make sure it does.
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	s.proc = p
	s.paused = false
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	deadline := time.Now().Add(startTimeout)
	for {
		if err := ping(addr); err == nil {
			return nil
		}
		select {
		case <-p.exited:
			s.proc = nil
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("redis-server exited (%v) before answering PING; its log:\n%s", p.err, log)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.killLocked()
			return fmt.Errorf("redis-server on %s did not answer PING within %s", addr, startTimeout)
		}
	}
}

// ping sends an inline PING and expects +PONG.
func ping(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(500 * time.Millisecond)); err != nil {
		return err
	}
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

// Stop shuts the server down gracefully (SIGTERM; SIGKILL if it lingers) and
// waits until it has exited. Clients see refused connections until Restart.
// Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

func (s *Server) stopLocked() {
	p := s.proc
	if p == nil {
		return
	}
	if s.paused {
		_ = p.cmd.Process.Signal(syscall.SIGCONT)
		s.paused = false
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	s.proc = nil
}

// Kill ends the server with SIGKILL, as a crash would, and waits until it has
// exited. Killing a stopped server does nothing.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.killLocked()
}

func (s *Server) killLocked() {
	p := s.proc
	if p == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
	s.proc = nil
	s.paused = false
}

// Restart stops the server if it runs and starts a fresh, empty one on the
// same port (no persistence: the data is gone). It fails the test if the
// server does not come back.
func (s *Server) Restart() {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
	// The old listener is gone; a few tries cover a slow kernel release.
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		if err = s.startLocked(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.tb.Fatalf("redistest: restarting redis-server on port %d: %v", s.port, err)
}

// Pause freezes the server with SIGSTOP: connections stay open (new ones are
// even accepted by the kernel) but nothing is answered, as with a server
// stuck in a long GC or a network partition that drops packets. Resume undoes
// it; cleanup resumes a paused server before stopping it.
func (s *Server) Pause() {
	s.signal(syscall.SIGSTOP, true)
}

// Resume continues a server frozen by Pause.
func (s *Server) Resume() {
	s.signal(syscall.SIGCONT, false)
}

func (s *Server) signal(sig syscall.Signal, paused bool) {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		s.tb.Fatalf("redistest: %v sent to a stopped redis-server", sig)
		return
	}
	if err := s.proc.cmd.Process.Signal(sig); err != nil {
		s.tb.Fatalf("redistest: sending %v to redis-server: %v", sig, err)
	}
	s.paused = paused
}

// Running reports whether the server process is up (it may be paused).
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc != nil
}

// Log returns what the server wrote to its current (or last) log file.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := os.ReadFile(filepath.Join(s.dir, fmt.Sprintf("redis-%d.log", s.starts)))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err.Error()
	}
	return string(b)
}

// shutdown is the test cleanup: the server goes, however it was left.
func (s *Server) shutdown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.killLocked()
}
