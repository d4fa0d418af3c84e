package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// shutdownGrace is how long in-flight requests get to finish after SIGINT
// or SIGTERM before their connections are closed.
const shutdownGrace = 30 * time.Second

// serve runs the bank on addr until ctx ends, then shuts down gracefully:
// the listener closes, in-flight requests finish (their handlers return, so
// the locking behavior releases their locks), and only then are the
// mediator and the store closed.
func serve(ctx context.Context, cfg Config, addr string, stdout, stderr io.Writer) error {
	app, err := NewApp(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return errors.Join(fmt.Errorf("listen: %w", err), app.Close(context.Background()))
	}
	return run(ctx, app, ln, stdout, stderr)
}

// run serves app on ln until ctx ends and then shuts down as serve says. It
// closes app.
func run(ctx context.Context, app *App, ln net.Listener, stdout, stderr io.Writer) error {
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	limits := app.cfg.Limits.withDefaults(openFileLimit())
	srv := &http.Server{
		Handler:           NewHTTPHandler(app, logger),
		ReadHeaderTimeout: min(readHeaderTimeout, limits.ReadTimeout),
		ReadTimeout:       limits.ReadTimeout,
		WriteTimeout:      limits.WriteTimeout,
		IdleTimeout:       limits.IdleTimeout,
		MaxHeaderBytes:    limits.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	ln = newLimitListener(ln, limits.MaxConns)
	base := baseURL(ln.Addr())
	fmt.Fprintf(stdout, "bank: listening on %s (%s; at most %d connections, read timeout %s, write timeout %s, idle timeout %s)\n",
		base, app.Describe(), limits.MaxConns, limits.ReadTimeout, limits.WriteTimeout, limits.IdleTimeout)
	fmt.Fprint(stdout, curlExample(base))

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		return errors.Join(fmt.Errorf("serve: %w", err), app.Close(context.Background()))
	case <-ctx.Done():
	}
	fmt.Fprintln(stdout, "bank: shutting down, letting in-flight requests finish")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	errShutdown := srv.Shutdown(shutdownCtx)
	<-served // http.ErrServerClosed once Shutdown has begun
	errClose := app.Close(shutdownCtx)
	if err := errors.Join(errShutdown, errClose); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	fmt.Fprintln(stdout, "bank: stopped")
	return nil
}

// baseURL is the address a client on this machine would use: an unspecified
// host (":8080") becomes localhost.
func baseURL(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return "http://" + a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

func curlExample(base string) string {
	return fmt.Sprintf(`try:
  ID=$(curl -s -X POST %[1]s/accounts -d '{"owner":"ann","balance":1000}' | sed 's/.*"id":"\([^"]*\)".*/\1/')
  curl -s -X POST %[1]s/accounts/$ID/withdraw -H 'Idempotency-Key: w-1' -d '{"amount":100}'
  curl -s -X POST %[1]s/accounts/$ID/stress -d '{"concurrent":200,"amount":10}'
  curl -s %[1]s/accounts/$ID
  go run ./samples/bank stress -url %[1]s -n 2000 -c 100
`, base)
}
