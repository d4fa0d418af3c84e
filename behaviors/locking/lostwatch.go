package locking

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// lostWatch cancels the handler's context when a held handle reports loss.
// It exists only when some handle can be lost, and it is the handler's
// context itself: the caller's deadline and values, the scope's answers,
// and a cancellation that a loss brings. The cancellable context behind it
// (context.WithCancelCause of the scope) is made on first use: when the
// handler asks for Done, for Err after a loss, or for a value the scope
// does not answer itself (which is how package context finds a parent's
// cancellation for context.Cause and for child contexts). A handler that
// never looks, and a loss that never comes, cost neither its allocations
// nor its registration with the caller's context.
type lostWatch struct {
	s *scope
	// stop is closed by end, for the goroutines that watch the Lost
	// channel of handles that are not LostNotifiers; made with the first.
	stop chan struct{}
	// signals are the LostSignals of handles watched through them; stops
	// unregister the callbacks of other handles that are LostNotifiers
	// (first backing arrays inline: one handle costs no slice); wg
	// counts the watches of both and the watching goroutines of the others.
	signals   []*LostSignal
	signalsIn [1]*LostSignal
	stops     []func() bool
	stopsIn   [1]func() bool
	wg        sync.WaitGroup
	lost      atomic.Int32 // 1 + index of the first handle lost; 0 none
	// panicked is the first panic of an observer or log handler at a loss,
	// recovered on the watcher's goroutine (where it would end the process)
	// and raised again by finish on the request's.
	panicked atomic.Pointer[recovered]

	// mu orders the making of the cancellable context with a loss and with
	// end, so that a context made after either is made cancelled.
	mu    sync.Mutex
	cc    atomic.Pointer[cancellable] // nil until first use
	ended atomic.Bool                 // written under mu
}

// cancellable is the handler's cancellable context and its cancel.
type cancellable struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
}

// watchLost watches every owned handle that can be lost: one whose
// LostSignal the behavior can reach registers the watch with it, a
// LostNotifier gets a callback, either of which finish unregisters; another
// handle whose Lost channel is not nil gets a goroutine, which ends when the
// handle is lost or finish closes stop. Handles that cannot be lost cost
// nothing.
func (s *scope) watchLost() {
	for i, h := range s.handles() {
		if !s.owned()[i] {
			continue
		}
		sig, signaller := h.(lostSignaller)
		n, notifier := h.(LostNotifier)
		var lost <-chan struct{}
		if !signaller && !notifier {
			if lost = h.Lost(); lost == nil {
				continue
			}
		}
		w := s.watching()
		if w == nil {
			w = s.newWatch()
		}
		w.wg.Add(1)
		if signaller {
			if ls := sig.LostSignal(); ls.watch(w, i) {
				w.signals = append(w.signals, ls)
				continue
			}
			if !notifier {
				// Lost already, or watched by another scope: it can only
				// be watched through its channel.
				lost = h.Lost()
			}
		}
		if notifier {
			w.stops = append(w.stops, n.AfterLost(func() { w.onLost(i) }))
			continue
		}
		if w.stop == nil {
			w.stop = make(chan struct{})
		}
		go func() {
			select {
			case <-lost:
				w.onLost(i)
			case <-w.stop:
				w.wg.Done()
			}
		}()
	}
}

// newWatch gives s its lost-lock watch, before s is published. A scope
// without an extra part yet gets one in the same allocation as the watch.
func (s *scope) newWatch() *lostWatch {
	var w *lostWatch
	if e := s.extra.Load(); e != nil {
		w = &lostWatch{}
		e.watch = w
	} else {
		x := &extraWatch{}
		w = &x.watch
		x.extra.watch = w
		s.extra.Store(&x.extra)
	}
	w.s = s
	w.signals, w.stops = w.signalsIn[:0], w.stopsIn[:0]
	return w
}

// extraWatch is a scope's extra part with its lost-lock watch, allocated
// together.
type extraWatch struct {
	extra scopeExtra
	watch lostWatch
}

// onLost records that handles()[i] was lost, cancels the handler's context
// with ErrLockLost and tells the observers and the logger. It runs on a
// goroutine of the watch (a callback's or a watcher's), counted by wg.
func (w *lostWatch) onLost(i int) {
	defer w.wg.Done()
	w.lost.CompareAndSwap(0, int32(i+1))
	w.mu.Lock()
	if c := w.cc.Load(); c != nil {
		c.cancel(ErrLockLost)
	}
	// Otherwise the context, when made, is made cancelled.
	w.mu.Unlock()
	defer func() {
		if p := recover(); p != nil {
			w.panicked.CompareAndSwap(nil, &recovered{value: p})
		}
	}()
	s := w.s
	s.l.lost(s.Context, s.handles()[i], s.acquiredAt())
}

// end stops the watch (unregisters the callbacks, stops the goroutines and
// waits for those already running) and cancels the handler's context. It
// returns the panic of an observer at a loss seen while the handler ran,
// and that loss's error, wrapping handlerErr.
func (w *lostWatch) end(handlerErr error) (lostPanic *recovered, lostErr error) {
	for _, ls := range w.signals {
		if ls.unwatch(w) {
			w.wg.Done() // unregistered: it will never be told
		}
	}
	for _, stop := range w.stops {
		if stop() {
			w.wg.Done() // unregistered: the callback will never run
		}
	}
	if w.stop != nil {
		close(w.stop)
	}
	w.wg.Wait()
	if i := w.lost.Load(); i > 0 {
		lostErr = lostError(w.s.handles()[i-1].Key(), handlerErr)
	}
	w.mu.Lock()
	w.ended.Store(true)
	if c := w.cc.Load(); c != nil {
		c.cancel(nil)
	}
	w.mu.Unlock()
	return w.panicked.Load(), lostErr
}

// made returns the cancellable context, making it on first use: cancelled
// at once, with ErrLockLost, when a handle was lost already, or with no
// cause when the watch has ended.
func (w *lostWatch) made() *cancellable {
	if c := w.cc.Load(); c != nil {
		return c
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if c := w.cc.Load(); c != nil {
		return c
	}
	c := &cancellable{}
	c.ctx, c.cancel = context.WithCancelCause(w.s)
	switch {
	case w.lost.Load() > 0:
		c.cancel(ErrLockLost)
	case w.ended.Load():
		c.cancel(nil)
	}
	w.cc.Store(c)
	return c
}

// Deadline is the caller's.
func (w *lostWatch) Deadline() (time.Time, bool) { return w.s.Deadline() }

// Done is closed when the caller's context ends, a held lock is lost, or the
// handler has returned.
func (w *lostWatch) Done() <-chan struct{} { return w.made().ctx.Done() }

// Err is the caller's context's error, or context.Canceled once a lock was
// lost or the handler returned.
func (w *lostWatch) Err() error {
	if c := w.cc.Load(); c != nil {
		return c.ctx.Err()
	}
	if w.lost.Load() > 0 || w.ended.Load() {
		return w.made().ctx.Err()
	}
	return w.s.Err()
}

// Value answers the locking package's own keys as the scope does, and asks
// the cancellable context for any other.
func (w *lostWatch) Value(key any) any {
	switch key.(type) {
	case scopeKey, acquirerKey:
		return w.s.Value(key)
	}
	return w.made().ctx.Value(key)
}
