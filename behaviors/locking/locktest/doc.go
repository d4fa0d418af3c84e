// Package locktest is the conformance kit of [locking.Provider]: one call,
// [Run], checks the whole provider contract against any provider — the
// project's own (memory, Redis, Redlock, etcd) and yours.
//
// # Usage
//
// Write a test in your provider's package that hands Run a [Factory]: a
// function that opens a new provider on one shared backend each time it is
// called. The kit calls it several times per check, so exclusion, tokens and
// contention are tested across provider instances — as they would be across
// processes.
//
//	func TestConformance(t *testing.T) {
//		srv := startMyBackend(t)
//		locktest.Run(t, func(t *testing.T) locking.Provider {
//			p := mylock.New(srv.Addr())
//			t.Cleanup(func() { _ = p.Close() })
//			return p
//		}, locktest.WithUnreachable(func(t *testing.T) locking.Provider {
//			return mylock.New("127.0.0.1:1") // nothing listens there
//		}))
//	}
//
// The factory registers the provider's clean-up on the t it is given (a
// subtest's), so every check starts and ends with its own providers. Each
// check uses keys of its own, so the backend may be shared by all of them.
//
// # What is checked
//
// Always:
//   - exclusion: goroutines spread over several provider instances take one
//     key many times; never two holders at once, a counter updated without
//     any other synchronisation comes out exact, and tokens grow with every
//     grant;
//   - timeout 0 is one try: on a held key it fails at once with
//     [locking.ErrNotAcquired]; on a free key it grants;
//   - a timeout is honoured: not before it ran out, and at most the slack
//     ([WithTimeoutSlack], default [DefaultTimeoutSlack]) after;
//   - context cancellation and an already-ended context return an error
//     wrapping ctx.Err() within the slack, and leave nothing held;
//   - tokens strictly increase per key across provider instances;
//   - Release is idempotent, safe from several goroutines at once, works with
//     an already-cancelled context, and frees the key for another instance;
//   - contention is reported as [locking.ErrNotAcquired], never as
//     [locking.ErrUnavailable];
//   - after the provider's Close (when it has a Close method), no goroutine
//     it started is left (goleak).
//
// Capabilities the caller declares:
//   - [WithUnreachable]: a provider whose backend does not answer reports
//     [locking.ErrUnavailable] — never [locking.ErrNotAcquired] — within the
//     timeout plus the slack;
//   - [WithForget]: when the backend forgets a held lock (its key deleted),
//     the handle's Lost channel closes within [WithLostWithin]'s bound;
//   - [WithOutage]: while the shared backend is stopped, acquisitions report
//     [locking.ErrUnavailable], a held handle's Lost closes, and once the
//     backend is back the key can be taken again;
//   - [WithFIFO]: waiters of one provider instance are served in the order
//     they started waiting (the provider must have a Waiters(key) int method
//     so the kit can tell when a waiter is queued).
//
// A provider that grants everything fails the exclusion and token checks;
// the kit's own tests prove it.
//
// # Goroutines
//
// Run starts goroutines only inside a check and waits for all of them before
// the check ends. The leak check compares with the goroutines alive when it
// began, so the backend's own goroutines (a test server's) do not count;
// [WithLeakOptions] passes goleak options for a client library's lingering
// goroutines.
package locktest
