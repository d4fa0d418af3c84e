package main

import (
	"net/http"

	"github.com/turbomediator/turbomediator-go/behaviors/locking/lockdebug"
	"github.com/turbomediator/turbomediator-go/mediator"
)

// lockTable makes the table of the locks this instance holds and waits for,
// and the option that registers it on the mediator: it observes the locking
// behavior and answers ?key= through the configured lock provider.
func lockTable() (*lockdebug.Table, mediator.Option) {
	t := lockdebug.New()
	return t, t.Option()
}

// mountDebug serves GET /debug/locks: the locks this instance holds and the
// accounts its requests wait for; ?key=account:ID asks the lock provider
// who holds an account's lock, on any instance (docs/bank.md).
func mountDebug(mux *http.ServeMux, app *App) {
	if app.Locks != nil {
		mux.Handle("GET /debug/locks", app.Locks)
	}
}
