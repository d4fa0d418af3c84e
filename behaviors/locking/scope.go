package locking

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/turbomediator/turbomediator-go/internal/grant"
)

// scope is one Send's set of held locks. It is also the context handed to
// the handler: embedding the caller's context and answering scopeKey itself
// saves the allocation of a separate context.WithValue. One allocation holds
// the scope, a single-key handle slot and the release context; with the
// in-memory provider also the handle itself (grant) and the key (keyBuf),
// so that such a Send allocates nothing else.
type scope struct {
	context.Context // the caller's

	parent  *scope
	l       *locker
	handles []Handle // sorted by key; handles[0] is FromContext's
	owned   []bool   // false for a handle borrowed from an enclosing scope
	one     [1]Handle
	ownOne  [1]bool
	// finished is set by finish, on the request's goroutine only.
	finished bool
	live     atomic.Bool

	acquired time.Duration // clock() when granted; only when someone observes
	watch    *lostWatch
	rel      releaseContext

	// grant is the handle a grant.Acquirer fills; keyBuf holds the bytes of
	// a key built for such a provider. A string made over keyBuf keeps the
	// scope alive while the provider holds the key, never longer than the
	// key is held; keyBuf is written once, before the string is made.
	grant  grant.Grant
	keyBuf [keyBufSize]byte
}

// keyBufSize is the longest key built inside the scope; a longer one gets an
// allocation of its own. It fits "WithdrawCommand:" and a UUID.
const keyBufSize = 56

// keyIn returns the key whose bytes were appended to s.keyBuf[:0] (buf), or
// base when buf is nil (the type-wide key). For a provider that fills the
// scope's grant the string is made over the buffer (or over the larger array
// append had to allocate); for any other it is a copy of its own, so that a
// provider keeping keys does not keep scopes.
func (s *scope) keyIn(base string, buf []byte) string {
	if buf == nil {
		return base
	}
	if s.l.grants == nil {
		return string(buf)
	}
	// buf is s.keyBuf, or an array append allocated for a longer key; either
	// way nobody else writes to it again.
	return unsafe.String(unsafe.SliceData(buf), len(buf))
}

// Value answers scopeKey with the scope and passes other keys on.
func (s *scope) Value(key any) any {
	if _, ok := key.(scopeKey); ok {
		return s
	}
	return s.Context.Value(key)
}

// find looks for key, taken from the provider ident, in s and its enclosing
// scopes still running. A nil scope finds nothing; a nil ident matches any
// provider (HandleFor asks that way).
func (s *scope) find(ident any, key string) Handle {
	for ; s != nil; s = s.parent {
		if !s.live.Load() || (ident != nil && s.l.ident != ident) {
			continue
		}
		for _, h := range s.handles {
			if h.Key() == key {
				return h
			}
		}
	}
	return nil
}

// handlerContext is the context the handler runs with: the scope itself, or
// the cancellable child that the lost-lock watch cancels.
func (s *scope) handlerContext() context.Context {
	if s.watch != nil {
		return s.watch.ctx
	}
	return s
}

// exit finishes the scope if the handler did not return normally (a panic);
// the panic then goes on up.
func (s *scope) exit() {
	if !s.finished {
		_ = s.finish(nil)
	}
}

// finish stops the lost-lock watch, releases the locks this scope took in
// reverse order, and reports a loss seen while the handler ran.
func (s *scope) finish(handlerErr error) error {
	s.finished = true
	var lostErr error
	if w := s.watch; w != nil {
		for _, stop := range w.stops {
			if stop() {
				w.wg.Done() // unregistered: the callback will never run
			}
		}
		close(w.stop)
		w.wg.Wait()
		if i := w.lost.Load(); i > 0 {
			lostErr = lostError(s.handles[i-1].Key(), handlerErr)
		}
		w.cancel(nil)
	}
	s.live.Store(false)
	s.releaseOwned()
	return lostErr
}

// releaseOwned releases, last taken first, with a context that the caller's
// cancellation cannot reach.
func (s *scope) releaseOwned() {
	var hold time.Duration
	if s.l.timed && s.acquired != 0 {
		hold = clock() - s.acquired
	}
	for i := len(s.handles) - 1; i >= 0; i-- {
		if !s.owned[i] || s.handles[i] == nil {
			continue
		}
		h := s.handles[i]
		err := h.Release(&s.rel)
		if s.l.timed {
			s.l.released(s.Context, h, hold, err)
		}
	}
	s.rel.stop()
}

// lostWatch cancels the handler's context when a held handle reports loss.
// It exists only when some handle can be lost.
type lostWatch struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	stop   chan struct{}
	// stops unregister the callbacks of handles that are LostNotifiers;
	// wg counts those callbacks and the watching goroutines of the others.
	stops []func() bool
	wg    sync.WaitGroup
	lost  atomic.Int32 // 1 + index of the first handle lost; 0 none
}

// watchLost starts one goroutine per owned handle whose Lost channel is not
// nil; they end when the handle is lost or finish closes stop. A handle that
// is a LostNotifier gets a callback instead, which finish unregisters.
// Handles that cannot be lost cost nothing.
func (s *scope) watchLost() {
	for i, h := range s.handles {
		if !s.owned[i] {
			continue
		}
		lost := h.Lost()
		if lost == nil {
			continue
		}
		w := s.watch
		if w == nil {
			w = &lostWatch{stop: make(chan struct{})}
			w.ctx, w.cancel = context.WithCancelCause(s)
			s.watch = w
		}
		onLost := func() {
			w.lost.CompareAndSwap(0, int32(i+1))
			w.cancel(ErrLockLost)
			s.l.lost(s.Context, h, s.acquired)
		}
		w.wg.Add(1)
		if n, ok := h.(LostNotifier); ok {
			w.stops = append(w.stops, n.AfterLost(func() {
				defer w.wg.Done()
				onLost()
			}))
			continue
		}
		go func() {
			defer w.wg.Done()
			select {
			case <-lost:
				onLost()
			case <-w.stop:
			}
		}()
	}
}
