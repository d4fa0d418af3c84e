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

	parent *scope
	l      *locker
	// one and ownOne hold the handle of a single key, extra's many those of
	// several; see handles and owned.
	one    [1]Handle
	ownOne [1]bool
	// finished is set by finish, on the request's goroutine only. over is
	// set by finish too, for the other goroutines: the handler returned,
	// the locks are going back. A scope is published (as the handler's
	// context, as an enclosing scope) only once its locks are held, so it
	// needs no flag for "held yet": the zero value is live, and a Send
	// pays one atomic write for the flag, not two.
	finished bool
	over     atomic.Bool

	// extra holds what an uncontended single-key Send with nobody observing
	// never uses, made on first use (see ext): keeping it out of the scope
	// keeps the one allocation of such a Send small.
	extra atomic.Pointer[scopeExtra]
	// relClock is the deadline of the context the scope's locks are
	// released with (see releaseView). It stays in the scope: a provider
	// other than the in-memory one asks for it on every release, and it
	// costs that Send no allocation beyond the timing the clock makes.
	relClock releaseClock

	// grant is the handle a grant.Acquirer fills; keyBuf holds the bytes of
	// a key built for such a provider. A string made over keyBuf keeps the
	// scope alive while the provider holds the key, never longer than the
	// key is held; keyBuf is written once, before the string is made.
	grant  grant.Grant
	keyBuf [keyBufSize]byte
}

// scopeExtra is the part of a scope most Sends never need. many, acquired
// and watch are written before the scope is published, on the request's
// goroutine; borrows is made on first use by any goroutine.
type scopeExtra struct {
	many     *manyKeys
	acquired time.Duration // clock() when granted; only when someone observes
	watch    *lostWatch
	// borrows is made only when nested Sends borrow this scope's keys or
	// this scope borrowed keys itself; see borrowing.
	borrows atomic.Pointer[borrowing]
}

// ext returns s's extra part, making it on first use. Any goroutine may call
// it.
func (s *scope) ext() *scopeExtra {
	if e := s.extra.Load(); e != nil {
		return e
	}
	e := new(scopeExtra)
	if !s.extra.CompareAndSwap(nil, e) {
		return s.extra.Load()
	}
	return e
}

// acquiredAt is the clock() of the grant, 0 unless someone observes.
func (s *scope) acquiredAt() time.Duration {
	if e := s.extra.Load(); e != nil {
		return e.acquired
	}
	return 0
}

// watching is the lost-lock watch, nil unless some handle can be lost.
func (s *scope) watching() *lostWatch {
	if e := s.extra.Load(); e != nil {
		return e.watch
	}
	return nil
}

// keyBufSize is the longest key built inside the scope; a longer one gets an
// allocation of its own. With it the scope takes 160 bytes, an allocation
// size class of the runtime.
const keyBufSize = 48

// manyKeys holds the handles of a message with several keys; up to two (a
// transfer's) inside it.
type manyKeys struct {
	handles []Handle
	owned   []bool
	two     [2]Handle
	ownTwo  [2]bool
}

// setMany gives s room for the handles of n keys, before s is published. A
// scope without an extra part yet gets one with the handles in the same
// allocation.
func (s *scope) setMany(n int) {
	if e := s.extra.Load(); e != nil {
		e.many = newManyKeys(n)
		return
	}
	x := &extraMany{}
	x.extra.many = x.many.init(n)
	s.extra.Store(&x.extra)
}

// extraMany is a scope's extra part with the handles of several keys,
// allocated together.
type extraMany struct {
	extra scopeExtra
	many  manyKeys
}

func newManyKeys(n int) *manyKeys { return new(manyKeys).init(n) }

// init gives m room for n handles, inside it for up to two, and returns m.
func (m *manyKeys) init(n int) *manyKeys {
	if n <= len(m.two) {
		m.handles, m.owned = m.two[:n], m.ownTwo[:n]
	} else {
		m.handles, m.owned = make([]Handle, n), make([]bool, n)
	}
	return m
}

// handles returns the scope's handles, sorted by key; handles()[0] is
// FromContext's.
func (s *scope) handles() []Handle {
	if e := s.extra.Load(); e != nil && e.many != nil {
		return e.many.handles
	}
	return s.one[:]
}

// owned tells, for each of handles(), whether s took it itself (false: it
// borrowed it from an enclosing scope).
func (s *scope) owned() []bool {
	if e := s.extra.Load(); e != nil && e.many != nil {
		return e.many.owned
	}
	return s.ownOne[:]
}

// releaseContext is the context s's locks are released with.
func (s *scope) releaseContext() context.Context { return (*releaseView)(s) }

// acquireContext is the context s's locks are asked for with: the caller's,
// seen through an acquireView that answers AcquirerFromContext with the
// message's Acquirer, unless there is none to give (RunLocked).
func (s *scope) acquireContext() context.Context {
	if s.l.acquirer == nil {
		return s.Context
	}
	return (*acquireView)(s)
}

// acquireView is a scope seen as the context its locks are asked for with:
// the caller's deadline, cancellation and values, and the Acquirer of the
// message. Being the scope, it costs no allocation.
type acquireView scope

func (v *acquireView) Deadline() (time.Time, bool) { return v.Context.Deadline() }
func (v *acquireView) Done() <-chan struct{}       { return v.Context.Done() }
func (v *acquireView) Err() error                  { return v.Context.Err() }

// Value answers the Acquirer's key and passes other keys on to the caller's
// context.
func (v *acquireView) Value(key any) any {
	if _, ok := key.(acquirerKey); ok {
		return v.l.acquirerOf(v.Context)
	}
	return v.Context.Value(key)
}

// keyIn returns the key whose bytes were appended to s.keyBuf[:0] (buf), or
// base when buf is nil (the type-wide key). For a provider that fills the
// scope's grant the string is made over the buffer (or over the larger array
// append had to allocate): the provider keeps it only while the key is held,
// and the handle that reports it lives in the scope anyway. For any other
// provider, and when some observer may keep the keys of its events (see
// KeyRetainer), it is a copy of its own, so that nothing that keeps a key
// keeps a scope (and its caller's context) with it. A logger copies the key
// itself, only for a record its level lets through.
func (s *scope) keyIn(base string, buf []byte) string {
	if buf == nil {
		return base
	}
	if s.l.grants == nil || s.l.keepsKeys {
		return string(buf)
	}
	// buf is s.keyBuf, or an array append allocated for a longer key; either
	// way nobody else writes to it again.
	return unsafe.String(unsafe.SliceData(buf), len(buf))
}

// borrowing is how the borrowers of one held lock exclude each other. A
// nested Send on a key an enclosing scope holds (re-entry) does not go to the
// provider: it takes the gate of that key in the innermost scope holding it,
// and gives it back when its handler returns. Two goroutines started by one
// handler thus take turns on the handler's lock, while a chain handler → Send
// → handler → Send on the same key nests: each link takes the gate of the
// link above it, which nobody else holds.
type borrowing struct {
	// taken are the gates of enclosing scopes this scope holds; written
	// before the scope is published, read by finish.
	taken []chan struct{}

	once sync.Once
	// gates has one channel of capacity 1 per handle of the scope: a
	// borrower of handles[i] holds a value in gates[i] while it runs.
	gates []chan struct{}
}

// gate returns the gate of handles[i], making the scope's gates on first use.
func (s *scope) gate(i int) chan struct{} {
	e := s.ext()
	b := e.borrows.Load()
	if b == nil {
		b = &borrowing{}
		if !e.borrows.CompareAndSwap(nil, b) {
			b = e.borrows.Load()
		}
	}
	b.once.Do(func() {
		b.gates = make([]chan struct{}, len(s.handles()))
		for j := range b.gates {
			b.gates[j] = make(chan struct{}, 1)
		}
	})
	return b.gates[i]
}

// took records that s holds gate g of an enclosing scope. Only before s is
// published.
func (s *scope) took(g chan struct{}) {
	e := s.ext()
	b := e.borrows.Load()
	if b == nil {
		b = &borrowing{}
		if !e.borrows.CompareAndSwap(nil, b) {
			b = e.borrows.Load()
		}
	}
	b.taken = append(b.taken, g)
}

// returnGates gives back the gates s took.
func (s *scope) returnGates(e *scopeExtra) {
	if b := e.borrows.Load(); b != nil {
		for _, g := range b.taken {
			<-g
		}
		b.taken = nil
	}
}

// waitGate takes gate g within wait (0: one try), unless ctx ends first. A
// gate still taken when wait runs out is contention, like a lock that stayed
// taken: an error for which errors.Is(err, ErrNotAcquired) holds.
func waitGate(ctx context.Context, g chan struct{}, key string, wait, timeout time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case g <- struct{}{}:
		return nil
	default:
	}
	if wait <= 0 {
		return &Error{Key: key, Timeout: timeout}
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case g <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return &Error{Key: key, Timeout: timeout}
	}
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
	if holder, i := s.holder(ident, key); holder != nil {
		return holder.handles()[i]
	}
	return nil
}

// holder returns the innermost running scope, s or an enclosing one, that
// holds key taken from the provider ident, and the index of its handle.
func (s *scope) holder(ident any, key string) (*scope, int) {
	for ; s != nil; s = s.parent {
		if s.over.Load() || (ident != nil && s.l.ident != ident) {
			continue
		}
		for i, h := range s.handles() {
			if h.Key() == key {
				return s, i
			}
		}
	}
	return nil, 0
}

// handlerContext is the context the handler runs with: the scope itself, or
// the lost-lock watch, a context that a loss cancels (see lostWatch).
func (s *scope) handlerContext() context.Context {
	if w := s.watching(); w != nil {
		return w
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
// reverse order, and reports a loss seen while the handler ran. A panic of an
// observer or log handler at the loss, recovered on the watcher's goroutine,
// goes on up from here, once every lock is released.
func (s *scope) finish(handlerErr error) error {
	s.finished = true
	var lostErr error
	var lostPanic *recovered
	if w := s.watching(); w != nil {
		lostPanic, lostErr = w.end(handlerErr)
	}
	s.over.Store(true)
	s.giveBack(true)
	if lostPanic != nil {
		panic(lostPanic.value)
	}
	return lostErr
}

// giveBack gives back the gates of borrowed keys and releases the locks s
// took, last taken first, with a context that the caller's cancellation
// cannot reach. Only then, with report, does it tell the observers and the
// logger: one that panics cannot keep a key held.
func (s *scope) giveBack(report bool) {
	e := s.extra.Load()
	if e != nil {
		s.returnGates(e)
	}
	report = report && s.l.timed
	var one [1]error
	errs := one[:]
	if report && len(s.handles()) > 1 {
		errs = make([]error, len(s.handles()))
	}
	for i := len(s.handles()) - 1; i >= 0; i-- {
		if !s.owned()[i] || s.handles()[i] == nil {
			continue
		}
		err := s.handles()[i].Release(s.releaseContext())
		if report {
			errs[i] = err
		}
	}
	s.relClock.stop()
	if !report {
		return
	}
	var hold time.Duration
	if acquired := s.acquiredAt(); acquired != 0 {
		hold = clock() - acquired
	}
	for i := len(s.handles()) - 1; i >= 0; i-- {
		if s.owned()[i] && s.handles()[i] != nil {
			s.l.released(s.Context, s.handles()[i], hold, errs[i])
		}
	}
}

// reportAcquired tells the observers and the logger that h was granted. If
// one of them panics, s gives back everything it holds before the panic goes
// on up.
func (s *scope) reportAcquired(h Handle, wait time.Duration) {
	done := false
	defer func() {
		if !done {
			s.giveBack(false)
		}
	}()
	s.l.acquired(s.Context, h, wait)
	done = true
}

// recovered is a panic value kept to be raised again elsewhere.
type recovered struct{ value any }
