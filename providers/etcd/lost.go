package etcd

import "sync"

// lostSignal tells that a lock can no longer be vouched for, in the two
// ways it is watched: a channel that closes (Handle.Lost) and callbacks
// (AfterLost, locking.LostNotifier), with which the locking behavior
// watches a held lock without a goroutine of its own.
type lostSignal struct {
	ch chan struct{}

	mu        sync.Mutex
	fired     bool
	callbacks map[*func()]struct{}
}

func newLostSignal() lostSignal { return lostSignal{ch: make(chan struct{})} }

// fire closes the channel and starts every registered callback on a
// goroutine of its own. Only the first call does anything.
func (s *lostSignal) fire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fired {
		return
	}
	s.fired = true
	close(s.ch)
	for f := range s.callbacks {
		go (*f)()
	}
	s.callbacks = nil
}

// isFired reports whether fire was called.
func (s *lostSignal) isFired() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fired
}

// afterLost runs f on a goroutine of its own once the signal fires (at
// once if it has); stop unregisters f and reports whether it did so before
// f was started, as context.AfterFunc's stop does.
func (s *lostSignal) afterLost(f func()) (stop func() bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fired {
		go f()
		return func() bool { return false }
	}
	if s.callbacks == nil {
		s.callbacks = map[*func()]struct{}{}
	}
	key := &f
	s.callbacks[key] = struct{}{}
	return func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.callbacks[key]; ok {
			delete(s.callbacks, key)
			return true
		}
		return false
	}
}
