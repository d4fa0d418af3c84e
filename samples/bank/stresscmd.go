package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// stressMain is `bank stress`: it parses flags, runs the load with a
// progress display on stderr, and prints the summary on stdout. The exit
// code is 1 when money was lost (or the run failed), 2 for bad flags.
func stressMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bank stress", flag.ContinueOnError)
	fs.SetOutput(stderr)
	urls := fs.String("url", "http://localhost:8080", "comma-separated base `URLs` of the instances to spread requests across")
	var cfg LoadConfig
	fs.StringVar(&cfg.Account, "account", "", "account `id` to withdraw from (default: create one holding -balance)")
	fs.Int64Var(&cfg.Balance, "balance", 1000, "starting balance in `cents` of the account created when -account is empty")
	fs.IntVar(&cfg.Requests, "n", 2000, "total number of withdrawals")
	fs.IntVar(&cfg.Concurrency, "c", 100, "withdrawals in flight at once")
	fs.Int64Var(&cfg.Amount, "amount", 1, "`cents` per withdrawal")
	fs.DurationVar(&cfg.Timeout, "timeout", 30*time.Second, "per-request timeout (positive)")
	fs.IntVar(&cfg.Retries, "retries", 5, "times a withdrawal with an unknown outcome (no answer, 5xx) is sent again under its Idempotency-Key")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usage := func(format string, args ...any) int {
		fmt.Fprintf(stderr, "bank stress: "+format+" (bank stress -h lists the flags)\n", args...)
		return 2
	}
	switch {
	case fs.NArg() > 0:
		// flag stops at the first non-flag: whatever follows would be
		// silently ignored.
		return usage("unexpected argument %q: every setting is a flag (-n 10, not 10)", fs.Arg(0))
	case cfg.Requests < 1:
		return usage("-n must be at least 1, got %d", cfg.Requests)
	case cfg.Concurrency < 1:
		return usage("-c must be at least 1, got %d", cfg.Concurrency)
	case cfg.Amount < 1:
		return usage("-amount must be at least 1 cent, got %d", cfg.Amount)
	case cfg.Balance < 0:
		return usage("-balance must not be negative, got %d", cfg.Balance)
	case cfg.Timeout <= 0:
		return usage("-timeout must be positive, got %s", cfg.Timeout)
	case cfg.Retries < 0:
		return usage("-retries must not be negative, got %d", cfg.Retries)
	case cfg.Account != "" && !validAccountID(cfg.Account):
		return usage("-account %q is not an account id (letters, digits, '-' and '_', at most %d)", cfg.Account, maxIDLength)
	}
	for u := range strings.SplitSeq(*urls, ",") {
		if u = strings.TrimSpace(u); u != "" {
			cfg.URLs = append(cfg.URLs, u)
		}
	}
	if len(cfg.URLs) == 0 {
		return usage("-url names no instance")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := RunLoad(ctx, cfg, newProgress(stderr, cfg.Requests))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(s); err != nil {
			fmt.Fprintln(stderr, "stress:", err)
			return 1
		}
	} else {
		printSummary(stdout, s)
	}
	if s.Verdict != VerdictOK {
		return 1
	}
	return 0
}

// printSummary writes s for a person to read.
func printSummary(w io.Writer, s Summary) {
	fmt.Fprintf(w, "%d withdrawals of %d cents from account %s via %s, %d at a time\n",
		s.Requests, s.Amount, s.Account, strings.Join(s.URLs, ", "), s.Concurrency)
	fmt.Fprintf(w, "  time       %.2fs, %.0f requests/s\n", s.Seconds, s.RequestsPerSecond)
	fmt.Fprintf(w, "  latency    p50 %.1fms  p95 %.1fms  p99 %.1fms  max %.1fms\n",
		s.LatencyMS.P50, s.LatencyMS.P95, s.LatencyMS.P99, s.LatencyMS.Max)
	keys := make([]string, 0, len(s.Statuses))
	for k := range s.Statuses {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	width := 0
	for _, k := range keys {
		width = max(width, len(k))
	}
	for _, k := range keys {
		fmt.Fprintf(w, "  status %-*s %d\n", width, k, s.Statuses[k])
	}
	if s.Retried > 0 || s.Unknown > 0 {
		fmt.Fprintf(w, "  retried    %d (same Idempotency-Key), outcome unknown %d\n", s.Retried, s.Unknown)
	}
	fmt.Fprintf(w, "  balance    %d at start, %d paid out: expected %d, actual %d\n",
		s.InitialBalance, int64(s.Succeeded)*s.Amount, s.ExpectedBalance, s.ActualBalance)
	fmt.Fprintln(w, s.Verdict)
}

// newProgress shows a live bar when w is a terminal and, otherwise (a pipe,
// a log file, CI), a plain line at every tenth of the way.
func newProgress(w io.Writer, total int) Progress {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return barProgress{progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription("withdrawals"),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("req"),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)}
	}
	return &lineProgress{w: w, total: total}
}

type barProgress struct{ bar *progressbar.ProgressBar }

func (p barProgress) Add() { _ = p.bar.Add(1) }

func (p barProgress) Finish() { _ = p.bar.Finish() }

// lineProgress prints "progress: 10% (200/2000)" lines.
type lineProgress struct {
	w     io.Writer
	total int

	mu     sync.Mutex
	done   int
	tenths int
}

func (p *lineProgress) Add() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	for t := p.done * 10 / p.total; p.tenths < t; {
		p.tenths++
		fmt.Fprintf(p.w, "progress: %d%% (%d/%d)\n", p.tenths*10, p.done, p.total)
	}
}

func (p *lineProgress) Finish() {}
