// Command bank is the TurboMediator sample: a small bank account HTTP API in
// which every withdrawal, deposit and transfer holds its accounts' locks, so
// concurrent requests, even across several instances sharing one Redis,
// never lose money. `bank stress` is its load generator.
//
//	bank [-addr :8080] [-redis host:port] [-lock-redis addr] [-lock-ttl 30s] [-work 1ms] [-no-lock] [-trace] [-otlp-endpoint host:4318] ...
//	bank stress [-url http://localhost:8080,...] [-n 2000] [-c 100] [-amount 1] [-json]
//
// See docs/bank.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "stress" {
		os.Exit(stressMain(os.Args[2:], os.Stdout, os.Stderr))
	}
	os.Exit(serverMain(os.Args[1:], os.Stdout, os.Stderr))
}

// serverMain parses the server's flags and runs it until SIGINT or SIGTERM.
// It returns the process exit code.
func serverMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bank", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", ":8080", "listen `address`")
	var cfg Config
	fs.StringVar(&cfg.RedisAddr, "redis", "", "keep accounts and locks in Redis at `addr` (host:port or redis:// URL), shared by every instance")
	fs.StringVar(&cfg.LockRedisAddr, "lock-redis", "", "take the account locks at `addr` instead of -redis's: another Redis, or redlock://a:6379,b:6379,c:6379 for a majority of independent masters")
	fs.StringVar(&cfg.PostgresDSN, "postgres", "", "keep accounts in PostgreSQL at `DSN` (postgres://user@host:5432/db), and the account locks there too unless -lock-etcd or -lock-redis says otherwise")
	fs.StringVar(&cfg.LockEtcd, "lock-etcd", "", "take the account locks on etcd at these comma-separated `endpoints` (http://127.0.0.1:2379,...), wherever the accounts are")
	fs.DurationVar(&cfg.Work, "work", 0, "artificial handler `delay` between reading and writing an account")
	fs.BoolVar(&cfg.NoLock, "no-lock", false, "run without the locking behavior, to see updates get lost")
	fs.DurationVar(&cfg.LockTimeout, "lock-timeout", 0, "how long to wait for an account lock (`duration`; 0: the commands' 10s)")
	fs.DurationVar(&cfg.LockTTL, "lock-ttl", 0, "lease of a Redis lock: how long an account stays locked after the instance holding it dies (`duration`; 0: the provider's 30s)")
	fs.DurationVar(&cfg.IdempotencyTTL, "idempotency-ttl", 0, "how long the answer to a request with an Idempotency-Key is remembered (`duration`; 0: 24h)")
	fs.BoolVar(&cfg.Telemetry.Trace, "trace", false, "write a span per request (with its lock events) to stdout, as JSON lines")
	fs.StringVar(&cfg.Telemetry.OTLPEndpoint, "otlp-endpoint", "", "send the spans over OTLP/HTTP to the collector at `addr` (host:4318, or a URL) instead of stdout; implies -trace")
	fs.DurationVar(&cfg.Limits.ReadTimeout, "read-timeout", defaultReadTimeout, "bound on reading a whole request, body included")
	fs.DurationVar(&cfg.Limits.WriteTimeout, "write-timeout", defaultWriteTimeout, "bound on a request from its headers to the end of its answer")
	fs.DurationVar(&cfg.Limits.IdleTimeout, "idle-timeout", defaultIdleTimeout, "close a keep-alive connection idle this long")
	fs.IntVar(&cfg.Limits.MaxHeaderBytes, "max-header-bytes", defaultMaxHeaderBytes, "bound on a request's headers, in `bytes`")
	fs.IntVar(&cfg.Limits.MaxConns, "max-conns", defaultMaxConns, "connections open at once, at most (never more than the open-file limit less 64)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bank: unexpected argument %q (the load generator is `bank stress`)\n", fs.Arg(0))
		return 2
	}
	for _, f := range []struct {
		name string
		d    time.Duration
	}{
		{"-lock-timeout", cfg.LockTimeout}, {"-lock-ttl", cfg.LockTTL}, {"-idempotency-ttl", cfg.IdempotencyTTL},
		{"-read-timeout", cfg.Limits.ReadTimeout}, {"-write-timeout", cfg.Limits.WriteTimeout}, {"-idle-timeout", cfg.Limits.IdleTimeout},
	} {
		if f.d < 0 {
			fmt.Fprintf(stderr, "bank: %s must not be negative, got %s\n", f.name, f.d)
			return 2
		}
	}
	if cfg.Limits.MaxHeaderBytes < 0 || cfg.Limits.MaxConns < 0 {
		fmt.Fprintln(stderr, "bank: -max-header-bytes and -max-conns must not be negative")
		return 2
	}
	cfg.Telemetry.TraceOut = stdout
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg, *addr, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "bank:", err)
		return 1
	}
	return 0
}
