package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/turbomediator/turbomediator-go/behaviors/idempotency"
	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
)

// maxBody bounds request bodies; every valid one is a few dozen bytes.
const maxBody = 64 << 10

// retryAfterSeconds is what a 409 tells the client to wait before trying
// again: a lock is normally held for milliseconds.
const retryAfterSeconds = "1"

// idempotencyKeyHeader is the request header that makes a POST safe to
// retry; replayedHeader marks an answer that is the stored one.
const (
	idempotencyKeyHeader = "Idempotency-Key"
	replayedHeader       = "Idempotent-Replayed"
)

// statusClientClosed is what the log says of a request whose client left
// before the answer (nginx's 499); nothing is sent.
const statusClientClosed = 499

// api turns HTTP calls into mediator messages and their results into JSON.
type api struct {
	m   *mediator.Mediator
	log *slog.Logger
}

// NewHTTPHandler serves the bank's HTTP contract (docs/bank.md) with app's
// mediator; GET /readyz asks app.Ready.
func NewHTTPHandler(app *App, log *slog.Logger) http.Handler {
	a := &api{m: app.Mediator, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /accounts", a.createAccount)
	mux.HandleFunc("GET /accounts", a.listAccounts)
	mux.HandleFunc("GET /accounts/{id}", a.getAccount)
	mux.HandleFunc("POST /accounts/{id}/deposit", a.deposit)
	mux.HandleFunc("POST /accounts/{id}/withdraw", a.withdraw)
	mux.HandleFunc("POST /accounts/{id}/stress", a.stress)
	mux.HandleFunc("POST /transfers", a.transfer)
	mux.Handle("GET /metrics", app.telemetry.metricsHandler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := app.Ready(r.Context()); err != nil {
			a.log.Warn("not ready", "err", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "not ready: " + reasons(err)})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	return jsonErrors(mux)
}

// reasons names what is unreachable without the causes' details (addresses
// belong in the log, not in a public answer).
func reasons(err error) string {
	var nr *NotReadyError
	if !errors.As(err, &nr) {
		return "dependencies unreachable"
	}
	var parts []string
	if nr.Store != nil {
		parts = append(parts, "account store unreachable")
	}
	if nr.Locks != nil {
		parts = append(parts, "lock provider unreachable")
	}
	return strings.Join(parts, ", ")
}

// jsonErrors makes the router's own answers, 404 for an unknown path and
// 405 for a known path with another method (its Allow header kept), JSON
// like every other error.
func jsonErrors(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h, pattern := mux.Handler(r); pattern == "" {
			h.ServeHTTP(&routerErrorWriter{ResponseWriter: w}, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// routerErrorWriter replaces the plain-text body of the router's error
// answers with {"error": ...}.
type routerErrorWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *routerErrorWriter) WriteHeader(status int) {
	if w.wrote {
		return
	}
	w.wrote = true
	msg := strings.ToLower(http.StatusText(status))
	if status == http.StatusNotFound {
		msg = "no such endpoint"
	}
	w.Header().Del("X-Content-Type-Options")
	writeJSON(w.ResponseWriter, status, map[string]string{"error": msg})
}

func (w *routerErrorWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return len(p), nil // the router's text is replaced, not sent
}

// requestKey reads the Idempotency-Key header; a bad one has been answered
// 400 and ok is false.
func (a *api) requestKey(w http.ResponseWriter, r *http.Request) (key string, ok bool) {
	key = r.Header.Get(idempotencyKeyHeader)
	if err := idempotency.CheckKey(key); err != nil {
		var ke *idempotency.KeyError
		errors.As(err, &ke)
		a.fail(w, r, invalid("%s header: %s", idempotencyKeyHeader, ke.Reason))
		return "", false
	}
	return key, true
}

// withReport prepares the request's context for Send so that a replayed
// answer can be marked with the Idempotent-Replayed header.
func withReport(r *http.Request) (context.Context, *idempotency.Report) {
	rep := &idempotency.Report{}
	return idempotency.WithReport(r.Context(), rep), rep
}

func markReplayed(w http.ResponseWriter, rep *idempotency.Report) {
	if rep.Replayed {
		w.Header().Set(replayedHeader, "true")
	}
}

type createAccountBody struct {
	Owner   string `json:"owner"`
	Balance int64  `json:"balance"`
}

func (a *api) createAccount(w http.ResponseWriter, r *http.Request) {
	var body createAccountBody
	key, ok := a.requestKey(w, r)
	if !ok || !a.decode(w, r, &body) {
		return
	}
	ctx, rep := withReport(r)
	acct, err := mediator.Send(ctx, a.m, CreateAccountCommand{Owner: body.Owner, Balance: body.Balance, RequestKey: key})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	markReplayed(w, rep)
	w.Header().Set("Location", "/accounts/"+acct.ID)
	writeJSON(w, http.StatusCreated, acct)
}

func (a *api) listAccounts(w http.ResponseWriter, r *http.Request) {
	q := ListAccountsQuery{Limit: defaultPageLimit, After: r.URL.Query().Get("cursor")}
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			a.fail(w, r, invalid("limit must be between 1 and %d", maxPageLimit))
			return
		}
		q.Limit = n
	}
	page, err := mediator.Send(r.Context(), a.m, q)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (a *api) getAccount(w http.ResponseWriter, r *http.Request) {
	acct, err := mediator.Send(r.Context(), a.m, GetAccountQuery{AccountID: r.PathValue("id")})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, acct)
}

type amountBody struct {
	Amount int64 `json:"amount"`
}

func (a *api) deposit(w http.ResponseWriter, r *http.Request) {
	var body amountBody
	key, ok := a.requestKey(w, r)
	if !ok || !a.decode(w, r, &body) {
		return
	}
	ctx, rep := withReport(r)
	res, err := mediator.Send(ctx, a.m, DepositCommand{AccountID: r.PathValue("id"), Amount: body.Amount, RequestKey: key})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	markReplayed(w, rep)
	writeJSON(w, http.StatusOK, res)
}

func (a *api) withdraw(w http.ResponseWriter, r *http.Request) {
	var body amountBody
	key, ok := a.requestKey(w, r)
	if !ok || !a.decode(w, r, &body) {
		return
	}
	ctx, rep := withReport(r)
	res, err := mediator.Send(ctx, a.m, WithdrawCommand{AccountID: r.PathValue("id"), Amount: body.Amount, RequestKey: key})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	markReplayed(w, rep)
	writeJSON(w, http.StatusOK, res)
}

type transferBody struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Amount int64  `json:"amount"`
}

func (a *api) transfer(w http.ResponseWriter, r *http.Request) {
	var body transferBody
	key, ok := a.requestKey(w, r)
	if !ok || !a.decode(w, r, &body) {
		return
	}
	ctx, rep := withReport(r)
	res, err := mediator.Send(ctx, a.m, TransferCommand{From: body.From, To: body.To, Amount: body.Amount, RequestKey: key})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	markReplayed(w, rep)
	writeJSON(w, http.StatusOK, res)
}

type stressBody struct {
	Concurrent int   `json:"concurrent"`
	Amount     int64 `json:"amount"`
}

func (a *api) stress(w http.ResponseWriter, r *http.Request) {
	var body stressBody
	key, ok := a.requestKey(w, r)
	if !ok || !a.decode(w, r, &body) {
		return
	}
	ctx, rep := withReport(r)
	res, err := mediator.Send(ctx, a.m, StressCommand{AccountID: r.PathValue("id"), Concurrent: body.Concurrent, Amount: body.Amount, RequestKey: key})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	markReplayed(w, rep)
	writeJSON(w, http.StatusOK, res)
}

// decode reads exactly one JSON object with only known fields into dst. On
// failure it has answered 400 and returns false.
func (a *api) decode(w http.ResponseWriter, r *http.Request, dst any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		// Only white space may follow the object: `{"amount":1}}` or two
		// objects are refused, not read as their first part.
		if _, terr := dec.Token(); !errors.Is(terr, io.EOF) {
			err = errTrailingData
		}
	}
	if err == nil {
		return true
	}
	a.fail(w, r, &InputError{Msg: describeDecodeError(err)})
	return false
}

var errTrailingData = errors.New("more than one JSON value")

// describeDecodeError words a decoding failure for the client without Go
// type names.
func describeDecodeError(err error) string {
	var typeErr *json.UnmarshalTypeError
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &typeErr):
		switch {
		case typeErr.Field == "":
			return "malformed JSON: the body must be an object"
		case typeErr.Field == "amount" || typeErr.Field == "balance":
			return typeErr.Field + " must be an integer number of cents"
		case typeErr.Type != nil && typeErr.Type.Kind() == reflect.String:
			return typeErr.Field + " must be a string"
		default:
			return typeErr.Field + " must be an integer"
		}
	case errors.As(err, &tooLarge):
		return fmt.Sprintf("request body is larger than %d bytes", maxBody)
	case errors.Is(err, errTrailingData):
		return "malformed JSON: data after the object"
	case errors.Is(err, io.EOF):
		return "malformed JSON: empty body"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "malformed JSON"
}

// fail answers with the status that err calls for and {"error": "..."}. A
// request whose client has gone is only logged, at info: it is the client's
// choice, not a server failure.
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := classify(err)
	if r.Context().Err() != nil && (status < 500 || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		a.log.Info("client closed request", "method", r.Method, "path", r.URL.Path, "status", statusClientClosed)
		return
	}
	if status == http.StatusConflict || status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", retryAfterSeconds)
	}
	if status >= 500 {
		a.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
	writeJSON(w, status, map[string]string{"error": msg})
}

// classify maps an error to an HTTP status and the message the client sees.
// Server-side failures get a fixed message; their cause goes to the log.
func classify(err error) (int, string) {
	var input *InputError
	var notAcquired *locking.Error
	switch {
	case errors.As(err, &input):
		return http.StatusBadRequest, input.Msg
	case errors.Is(err, ErrAccountNotFound):
		return http.StatusNotFound, err.Error()
	case errors.As(err, &notAcquired):
		return http.StatusConflict, fmt.Sprintf("account is busy: lock %s not acquired within %s, retry later", notAcquired.Key, notAcquired.Timeout)
	case errors.Is(err, locking.ErrNotAcquired):
		return http.StatusConflict, "account is busy, retry later"
	case errors.Is(err, ErrStaleWrite):
		return http.StatusConflict, "account changed under a lost lock, retry later"
	case errors.Is(err, idempotency.ErrInProgress):
		return http.StatusConflict, "a request with this Idempotency-Key is in progress, retry later for its answer"
	case errors.Is(err, idempotency.ErrKeyReused):
		return http.StatusUnprocessableEntity, "Idempotency-Key already used for a different request"
	case errors.Is(err, ErrStressBusy):
		return http.StatusTooManyRequests, err.Error()
	case errors.Is(err, ErrInsufficientFunds), errors.Is(err, ErrBalanceOverflow):
		return http.StatusUnprocessableEntity, err.Error()
	case errors.Is(err, locking.ErrUnavailable), errors.Is(err, locking.ErrLockLost):
		return http.StatusServiceUnavailable, "lock provider unavailable"
	case errors.Is(err, ErrStoreUnavailable), errors.Is(err, idempotency.ErrUnavailable):
		return http.StatusServiceUnavailable, "account store unavailable"
	}
	return http.StatusInternalServerError, "internal error"
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// The status is sent; an encoding failure here can only be a client gone.
	_ = json.NewEncoder(w).Encode(v)
}
