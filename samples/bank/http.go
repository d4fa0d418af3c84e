package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strings"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
)

// maxBody bounds request bodies; every valid one is a few dozen bytes.
const maxBody = 64 << 10

// retryAfterSeconds is what a 409 tells the client to wait before trying
// again: a lock is normally held for milliseconds.
const retryAfterSeconds = "1"

// api turns HTTP calls into mediator messages and their results into JSON.
type api struct {
	m   *mediator.Mediator
	log *slog.Logger
}

// NewHTTPHandler serves the bank's HTTP contract (docs/bank.md) with m.
func NewHTTPHandler(m *mediator.Mediator, log *slog.Logger) http.Handler {
	a := &api{m: m, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /accounts", a.createAccount)
	mux.HandleFunc("GET /accounts", a.listAccounts)
	mux.HandleFunc("GET /accounts/{id}", a.getAccount)
	mux.HandleFunc("POST /accounts/{id}/deposit", a.deposit)
	mux.HandleFunc("POST /accounts/{id}/withdraw", a.withdraw)
	mux.HandleFunc("POST /accounts/{id}/stress", a.stress)
	mux.HandleFunc("POST /transfers", a.transfer)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	return mux
}

type createAccountBody struct {
	Owner   string `json:"owner"`
	Balance int64  `json:"balance"`
}

func (a *api) createAccount(w http.ResponseWriter, r *http.Request) {
	var body createAccountBody
	if !a.decode(w, r, &body) {
		return
	}
	acct, err := mediator.Send(r.Context(), a.m, CreateAccountCommand{Owner: body.Owner, Balance: body.Balance})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/accounts/"+acct.ID)
	writeJSON(w, http.StatusCreated, acct)
}

func (a *api) listAccounts(w http.ResponseWriter, r *http.Request) {
	accts, err := mediator.Send(r.Context(), a.m, ListAccountsQuery{})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, accts)
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
	if !a.decode(w, r, &body) {
		return
	}
	acct, err := mediator.Send(r.Context(), a.m, DepositCommand{AccountID: r.PathValue("id"), Amount: body.Amount})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, acct)
}

func (a *api) withdraw(w http.ResponseWriter, r *http.Request) {
	var body amountBody
	if !a.decode(w, r, &body) {
		return
	}
	res, err := mediator.Send(r.Context(), a.m, WithdrawCommand{AccountID: r.PathValue("id"), Amount: body.Amount})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

type transferBody struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Amount int64  `json:"amount"`
}

func (a *api) transfer(w http.ResponseWriter, r *http.Request) {
	var body transferBody
	if !a.decode(w, r, &body) {
		return
	}
	res, err := mediator.Send(r.Context(), a.m, TransferCommand{From: body.From, To: body.To, Amount: body.Amount})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

type stressBody struct {
	Concurrent int   `json:"concurrent"`
	Amount     int64 `json:"amount"`
}

func (a *api) stress(w http.ResponseWriter, r *http.Request) {
	var body stressBody
	if !a.decode(w, r, &body) {
		return
	}
	res, err := mediator.Send(r.Context(), a.m, StressCommand{AccountID: r.PathValue("id"), Concurrent: body.Concurrent, Amount: body.Amount})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// decode reads exactly one JSON object with only known fields into dst. On
// failure it has answered 400 and returns false.
func (a *api) decode(w http.ResponseWriter, r *http.Request, dst any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil && dec.More() {
		err = errTrailingData
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
	case errors.Is(err, io.EOF):
		return "malformed JSON: empty body"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "malformed JSON"
}

// fail answers with the status that err calls for and {"error": "..."}.
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := classify(err)
	if status == http.StatusConflict {
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
	case errors.Is(err, ErrInsufficientFunds), errors.Is(err, ErrBalanceOverflow):
		return http.StatusUnprocessableEntity, err.Error()
	case errors.Is(err, locking.ErrUnavailable), errors.Is(err, locking.ErrLockLost):
		return http.StatusServiceUnavailable, "lock provider unavailable"
	case errors.Is(err, ErrStoreUnavailable):
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
