package locking

import "sync"

// LostSignal is the part of a [Handle] that tells a lock can no longer be
// vouched for, for provider authors: a channel that closes (for
// [Handle.Lost]) and callbacks (for [LostNotifier.AfterLost]), with which
// the locking behavior watches a held lock without a goroutine of its own.
// Its zero value is ready to use; it must not be copied after first use.
// The channel is made on first use, since most locks are never watched
// through it.
//
// A Handle with a method LostSignal() *LostSignal that returns its signal
// is watched by the locking behavior through the signal itself, which costs
// no allocation, instead of through [LostNotifier.AfterLost].
type LostSignal struct {
	mu        sync.Mutex
	ch        chan struct{}
	fired     bool
	callbacks []*lostCallback
	inline    [1]*lostCallback // the callbacks' first backing array: one watcher costs no slice
	// watcher is the behavior's watch of the held lock (see watch), told
	// of Fire on a goroutine of its own as handles()[watchIndex].
	watcher    *lostWatch
	watchIndex int
}

// lostSignaller is a Handle whose loss is told by a LostSignal.
type lostSignaller interface{ LostSignal() *LostSignal }

// lostCallback is one AfterLost registration; its address identifies it.
type lostCallback struct{ f func() }

// Channel returns the channel that Fire closes (already closed if Fire was
// called), for a Handle's Lost.
func (s *LostSignal) Channel() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
		if s.fired {
			close(s.ch)
		}
	}
	return s.ch
}

// Fire closes the channel and starts every registered callback, each on a
// goroutine of its own. Only the first call does anything.
func (s *LostSignal) Fire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fired {
		return
	}
	s.fired = true
	if s.ch != nil {
		close(s.ch)
	}
	for _, cb := range s.callbacks {
		go cb.f()
	}
	s.callbacks = nil
	if w := s.watcher; w != nil {
		s.watcher = nil
		go w.onLost(s.watchIndex)
	}
}

// watch registers w to be told of Fire as the watch of handles()[i]. It
// reports false, and registers nothing, when Fire was called already or
// another watch has the signal: the caller then watches with AfterLost.
func (s *LostSignal) watch(w *lostWatch, i int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fired || s.watcher != nil {
		return false
	}
	s.watcher, s.watchIndex = w, i
	return true
}

// unwatch unregisters w and reports whether it did so before Fire started
// telling it.
func (s *LostSignal) unwatch(w *lostWatch) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watcher != w {
		return false
	}
	s.watcher = nil
	return true
}

// Fired reports whether Fire was called.
func (s *LostSignal) Fired() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fired
}

// AfterLost arranges for f to run, on a goroutine of its own, once Fire is
// called (at once if it was); stop unregisters f and reports whether it did
// so before f was started, as with context.AfterFunc.
func (s *LostSignal) AfterLost(f func()) (stop func() bool) {
	cb := &lostCallback{f: f}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fired {
		go f()
		return func() bool { return false }
	}
	if s.callbacks == nil {
		s.callbacks = s.inline[:0]
	}
	s.callbacks = append(s.callbacks, cb)
	return func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for i, c := range s.callbacks {
			if c == cb {
				s.callbacks = append(s.callbacks[:i], s.callbacks[i+1:]...)
				return true
			}
		}
		return false
	}
}
