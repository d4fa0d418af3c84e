// Package pgtest runs throwaway PostgreSQL clusters for tests: initdb in a
// temporary directory, pg_ctl on a free loopback port, removed at cleanup.
//
// The server refuses to run as root; when the tests do, every server
// command runs as the "postgres" user (runuser) in a directory it owns.
// Without the binaries a test is skipped, or failed when CI=true.
//
// It is test support, not part of the provider: the provider's tests and the
// bank sample's (a module of its own, which an internal package would not
// serve) use it. Its API may change with them.
package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// startTimeout bounds how long pg_ctl may take to start or stop a server.
const startTimeout = 60 * time.Second

// Cluster is one PostgreSQL server on 127.0.0.1, owned by one test (or one
// TestMain). Its methods are safe for concurrent use.
type Cluster struct {
	tb    testing.TB
	bin   string // directory holding initdb and pg_ctl
	dir   string // temporary root, removed at cleanup
	data  string // the cluster's data directory
	owner string // "postgres" when the commands run through runuser, else ""
	cfg   Config // where the server listens (StartConfig)

	mu      sync.Mutex
	port    int
	running bool
	dbs     int // for distinct database names
}

// Start creates a cluster, starts it and registers tb.Cleanup to stop it and
// remove its files.
func Start(tb testing.TB) *Cluster { return StartConfig(tb, Config{}) }

// StartConfig is Start with the server listening where cfg says.
func StartConfig(tb testing.TB, cfg Config) *Cluster {
	tb.Helper()
	c, err := start(tb, cfg)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(c.remove)
	return c
}

// StartMain is Start for a TestMain, which has no testing.TB: it returns the
// cluster, or an error, or (nil, nil) with a reason when the binaries are
// missing and CI is not set; call Remove when the tests are done.
func StartMain() (*Cluster, string, error) {
	bin, reason := lookBinaries()
	if bin == "" {
		if isCI() {
			return nil, "", fmt.Errorf("%s — CI=true, so this is a failure, not a skip", reason)
		}
		return nil, reason, nil
	}
	c, err := startIn(nil, bin, Config{})
	return c, "", err
}

func start(tb testing.TB, cfg Config) (*Cluster, error) {
	bin, reason := lookBinaries()
	if bin == "" {
		if isCI() {
			tb.Fatal("pgtest: " + reason + " — CI=true, so this is a failure, not a skip")
		}
		tb.Skip("\n" + strings.Repeat("!", 78) + "\n!!! SKIPPED: pgtest: " + reason + "\n" + strings.Repeat("!", 78))
	}
	return startIn(tb, bin, cfg)
}

func startIn(tb testing.TB, bin string, cfg Config) (*Cluster, error) {
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{tb: tb, bin: bin, dir: dir, data: filepath.Join(dir, "data"), cfg: cfg}
	if os.Geteuid() == 0 {
		c.owner = "postgres"
		u, err := user.Lookup(c.owner)
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root, the server needs the user %q: %w", c.owner, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
	}
	if out, err := c.run("initdb", "-D", c.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"); err != nil {
		c.remove()
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	if cfg.ListenAddr != "" {
		// initdb trusts loopback clients only: trust those of the
		// listening address's subnet too.
		if err := appendFile(filepath.Join(c.data, "pg_hba.conf"), "host all all samenet trust\n"); err != nil {
			c.remove()
			return nil, err
		}
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			c.remove()
			return nil, err
		}
		c.mu.Lock()
		c.port = port
		lastErr = c.startLocked()
		c.mu.Unlock()
		if lastErr == nil {
			return c, nil
		}
	}
	c.remove()
	return nil, lastErr
}

// lookBinaries finds the directory of initdb and pg_ctl: $PG_BIN, then
// $PATH, then the newest /usr/lib/postgresql/*/bin. It returns "" and the
// reason when there is none.
func lookBinaries() (string, string) {
	if d := os.Getenv("PG_BIN"); d != "" {
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			return d, ""
		}
		return "", "PG_BIN=" + d + " holds no pg_ctl"
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if _, err := os.Stat(filepath.Join(filepath.Dir(p), "initdb")); err == nil {
			return filepath.Dir(p), ""
		}
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	sort.Slice(found, func(i, j int) bool { return version(found[i]) > version(found[j]) })
	if len(found) > 0 {
		return filepath.Dir(found[0]), ""
	}
	return "", "initdb/pg_ctl not found in $PG_BIN, $PATH or /usr/lib/postgresql/*/bin (install the Debian package postgresql)"
}

// version reads N from /usr/lib/postgresql/N/bin/pg_ctl.
func version(pgCtl string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(pgCtl))))
	return n
}

func isCI() bool {
	ci, _ := strconv.ParseBool(os.Getenv("CI"))
	return ci
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// run runs one of the server's programs, as the postgres user when we are
// root, and returns its combined output.
func (c *Cluster) run(prog string, args ...string) ([]byte, error) {
	argv := append([]string{filepath.Join(c.bin, prog)}, args...)
	if c.owner != "" {
		argv = append([]string{"runuser", "-u", c.owner, "--"}, argv...)
	}
	if c.cfg.NetNS != "" && prog == "pg_ctl" && args[len(args)-1] == "start" {
		// The postmaster inherits the namespace; stopping it (a signal
		// to the pid in its pid file) needs none.
		argv = append([]string{"ip", "netns", "exec", c.cfg.NetNS}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = c.dir
	return cmd.CombinedOutput()
}

// startLocked writes the port into the configuration and starts the server.
func (c *Cluster) startLocked() error {
	socketDir := ""
	if c.cfg.Socket {
		socketDir = c.dir
	}
	conf := fmt.Sprintf(`
port = %d
listen_addresses = '%s'
unix_socket_directories = '%s'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 300
shared_buffers = 16MB
`, c.port, c.cfg.host(), socketDir)
	// postgresql.auto.conf is read last and belongs to the server's user;
	// rewriting it (as its owner, through the same runuser) keeps the port
	// current across attempts.
	autoConf := filepath.Join(c.data, "postgresql.auto.conf")
	if err := os.WriteFile(autoConf, []byte(conf), 0o600); err != nil {
		return err
	}
	if c.owner != "" {
		if out, err := exec.Command("chown", c.owner+":", autoConf).CombinedOutput(); err != nil {
			return fmt.Errorf("chown: %w: %s", err, out)
		}
	}
	out, err := c.run("pg_ctl", "-D", c.data, "-l", filepath.Join(c.dir, "server.log"),
		"-w", "-t", strconv.Itoa(int(startTimeout/time.Second)), "start")
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
		return fmt.Errorf("pg_ctl start on port %d: %w\n%s\n%s", c.port, err, out, tail(log))
	}
	c.running = true
	return nil
}

func appendFile(name, text string) error {
	f, err := os.OpenFile(name, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(text)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func tail(b []byte) string {
	const n = 4000
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// stopLocked stops the server in the given pg_ctl mode (fast, immediate).
func (c *Cluster) stopLocked(mode string) error {
	if !c.running {
		return nil
	}
	out, err := c.run("pg_ctl", "-D", c.data, "-m", mode, "-w", "-t", strconv.Itoa(int(startTimeout/time.Second)), "stop")
	if err != nil {
		return fmt.Errorf("pg_ctl stop -m %s: %w\n%s", mode, err, out)
	}
	c.running = false
	return nil
}

// Port returns the server's TCP port; it stays the same across Restart.
func (c *Cluster) Port() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.port
}

// DSN returns a connection string for database db as the superuser, over
// TCP to the address the server listens on.
func (c *Cluster) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@%s:%d/%s?sslmode=disable", c.cfg.host(), c.Port(), db)
}

// SocketDSN returns a connection string for database db as the superuser,
// over the server's unix socket (Config.Socket): a path that does not go
// through the network, whatever happens to it.
func (c *Cluster) SocketDSN(db string) string {
	if !c.cfg.Socket {
		panic("pgtest: SocketDSN of a cluster started without Config.Socket")
	}
	return fmt.Sprintf("host=%s port=%d user=postgres dbname=%s sslmode=disable", c.dir, c.Port(), db)
}

// NewDatabase creates a fresh database and returns its DSN: tests sharing a
// cluster do not see each other's advisory locks or sequences.
func (c *Cluster) NewDatabase(tb testing.TB) string {
	tb.Helper()
	c.mu.Lock()
	c.dbs++
	name := fmt.Sprintf("t%d", c.dbs)
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		tb.Fatalf("pgtest: connecting: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("pgtest: creating database %s: %v", name, err)
	}
	return c.DSN(name)
}

// Stop shuts the server down (pg_ctl stop -m fast: sessions are ended with
// a FATAL message, as in an orderly restart). Stopping a stopped server does
// nothing.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopLocked("fast")
}

// Restart stops the server if it runs (pg_ctl stop -m fast) and starts it
// again on the same port, with its data.
func (c *Cluster) Restart() error { return c.restart("fast") }

// Crash stops the server as a crash would (pg_ctl stop -m immediate: no
// checkpoint, recovery from the WAL at the next start) and starts it again.
func (c *Cluster) Crash() error { return c.restart("immediate") }

func (c *Cluster) restart(mode string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.stopLocked(mode); err != nil {
		return err
	}
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		if err = c.startLocked(); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// StartAgain starts a stopped server on the same port.
func (c *Cluster) StartAgain() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		return nil
	}
	return c.startLocked()
}

// Remove stops the server at once and deletes its files; StartMain's
// caller calls it, Start's cleanup does.
func (c *Cluster) Remove() { c.remove() }

func (c *Cluster) remove() {
	c.mu.Lock()
	err := c.stopLocked("immediate")
	c.mu.Unlock()
	if err != nil && c.tb != nil {
		c.tb.Errorf("pgtest: %v", err)
	}
	_ = os.RemoveAll(c.dir)
}
