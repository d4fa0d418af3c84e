// Package lockdebug shows the distributed locks this process holds and waits
// for, as JSON over HTTP, for an operator asking "who holds it, since when,
// and how many wait".
//
// A [Table] is a [locking.Observer] (and a [locking.WaitObserver]): register
// it on the mediator with [Table.Option] and mount it, like net/http/pprof,
// at /debug/locks:
//
//	locks := lockdebug.New()
//	m, err := mediator.New(locks.Option(), ...)
//	http.Handle("/debug/locks", locks)
//
// GET /debug/locks lists what the locking behavior of this process reports:
// the locks it holds (key, holder, age, token, lost) and the keys its
// callers wait for, with how many wait. GET /debug/locks?key=K asks the
// mediator's lock provider about any key, held here or elsewhere, when the
// provider is a [locking.Inspector].
package lockdebug

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"go.uber.org/dig"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
)

// Lock is one lock this process holds.
type Lock struct {
	// Key is the full lock key ("myapp:WithdrawCommand:42").
	Key string `json:"key"`
	// Prefix is the key prefix of the message type.
	Prefix string `json:"prefix"`
	// Holder is this process (the table's instance name), the message type
	// the lock was taken for, the Send's trace when a tracing behavior
	// registered locking.WithTraceIdentity, and when it was granted.
	Holder locking.Holder `json:"holder"`
	// Token is the lock's fencing token.
	Token uint64 `json:"token"`
	// Age is how long it has been held, when the table was read.
	Age time.Duration `json:"age_ns"`
	// Lost is true once the provider could no longer vouch for the lock;
	// it stays listed until the handler returns and it is released.
	Lost bool `json:"lost,omitempty"`
}

// Waited is one key callers of this process wait for.
type Waited struct {
	// Key and Prefix are as in [Lock].
	Key    string `json:"key"`
	Prefix string `json:"prefix"`
	// Waiters is how many callers wait for the key now.
	Waiters int `json:"waiters"`
	// MessageType, Since and Age are those of the caller that has waited
	// longest.
	MessageType string        `json:"message_type"`
	Since       time.Time     `json:"since"`
	Age         time.Duration `json:"age_ns"`
}

// Snapshot is the JSON document GET /debug/locks answers.
type Snapshot struct {
	// Instance names this process, as in the holders.
	Instance string `json:"instance"`
	// Held are the locks this process holds, by key, then token.
	Held []Lock `json:"held"`
	// Waiting are the keys this process's callers wait for, by key.
	Waiting []Waited `json:"waiting"`
}

// Table keeps the locks this process holds and waits for now, and answers
// HTTP requests about them. It is safe for concurrent use; the zero value is
// not: make one with [New]. Register it on one mediator.
type Table struct {
	now            func() time.Time
	instance       string
	inspectTimeout time.Duration

	mu       sync.Mutex
	held     map[grant]heldLock
	waits    map[*locking.Wait]time.Time // when each wait started
	provider locking.Provider            // asked for ?key=; nil: none known
	explicit bool                        // provider came from WithProvider
}

// heldLock is what the table keeps of a held lock. Under 128 bytes, a map
// keeps it inline: recording a grant allocates nothing.
type heldLock struct {
	prefix string
	who    locking.Acquirer
	since  time.Time
	lost   bool
}

// grant identifies one grant of a key: a key may be held by two grants at
// once for a moment, when a lost lock is granted again before its release.
type grant struct {
	key   string
	token uint64
}

// Option configures a [Table].
type Option func(*Table)

// WithClock makes the table read the time from now instead of time.Now.
func WithClock(now func() time.Time) Option { return func(t *Table) { t.now = now } }

// WithInstance names this process in the holders the table lists; default
// [locking.DefaultInstance] ("host:pid"). Give it the instance name the lock
// provider records, if it was given one, so that both pages agree.
func WithInstance(name string) Option { return func(t *Table) { t.instance = name } }

// WithProvider makes ?key= ask p, instead of the lock provider of the
// mediator the table is registered on.
func WithProvider(p locking.Provider) Option {
	return func(t *Table) { t.provider, t.explicit = p, p != nil }
}

// WithInspectTimeout bounds one ?key= lookup on the backend; default 5s.
func WithInspectTimeout(d time.Duration) Option { return func(t *Table) { t.inspectTimeout = d } }

// defaultInspectTimeout is how long a ?key= lookup may take by default.
const defaultInspectTimeout = 5 * time.Second

// New returns an empty table.
func New(opts ...Option) *Table {
	t := &Table{now: time.Now, inspectTimeout: defaultInspectTimeout, held: map[grant]heldLock{}, waits: map[*locking.Wait]time.Time{}}
	for _, o := range opts {
		o(t)
	}
	if t.instance == "" {
		t.instance = locking.DefaultInstance()
	}
	return t
}

// providerIn is what Option asks the container for: the mediator's lock
// provider, if one is registered.
type providerIn struct {
	dig.In
	Provider locking.Provider `optional:"true"`
}

// Option registers t as an observer of the mediator's locking behavior, and
// gives it the mediator's lock provider (unless [WithProvider] named one) to
// answer ?key= with.
//
// When that provider is a [locking.Inspector], Build asks it about one key
// (probeKey), for at most a second and whatever it answers: a
// provider that times its grants only once it has been asked (the memory
// provider saves a clock read per grant until then) then gives every
// lock's Since and HeldFor from Build on.
func (t *Table) Option() mediator.Option {
	return mediator.Options("lockdebug.Table",
		locking.WithObserver(t),
		mediator.Invoke(func(in providerIn) {
			t.mu.Lock()
			if !t.explicit {
				t.provider = in.Provider
			}
			p := t.provider
			t.mu.Unlock()
			if in, ok := p.(locking.Inspector); ok {
				ctx, cancel := context.WithTimeout(context.Background(), min(t.inspectTimeout, probeTimeout))
				defer cancel()
				_, _ = in.Inspect(ctx, probeKey)
			}
		}))
}

// probeKey is the key Build asks an Inspector about; nobody locks it.
// probeTimeout bounds that question: an unreachable backend must not hold
// Build up for long.
const (
	probeKey     = "lockdebug:probe"
	probeTimeout = time.Second
)

// ObserveLock adds a granted lock, marks a lost one, removes a released one.
func (t *Table) ObserveLock(e locking.LockEvent) {
	g := grant{key: e.Key, token: e.Token}
	switch e.Outcome {
	case locking.Acquired:
		l := heldLock{prefix: e.Prefix, who: e.Acquirer, since: t.now()}
		t.mu.Lock()
		t.held[g] = l
		t.mu.Unlock()
	case locking.Lost:
		t.mu.Lock()
		if l, ok := t.held[g]; ok {
			l.lost = true
			t.held[g] = l
		}
		t.mu.Unlock()
	case locking.Released:
		t.mu.Lock()
		delete(t.held, g)
		t.mu.Unlock()
	}
}

// WaitStarted counts a caller that starts waiting for a key.
func (t *Table) WaitStarted(_ context.Context, w *locking.Wait) {
	now := t.now()
	t.mu.Lock()
	t.waits[w] = now
	t.mu.Unlock()
}

// WaitEnded forgets a caller whose wait is over.
func (t *Table) WaitEnded(_ context.Context, w *locking.Wait) {
	t.mu.Lock()
	delete(t.waits, w)
	t.mu.Unlock()
}

// Held returns the locks held now, by key, then token.
func (t *Table) Held() []Lock {
	return t.Snapshot().Held
}

// Snapshot returns what the table knows now.
func (t *Table) Snapshot() Snapshot {
	now := t.now()
	s := Snapshot{Instance: t.instance}
	t.mu.Lock()
	s.Held = make([]Lock, 0, len(t.held))
	for g, l := range t.held {
		s.Held = append(s.Held, Lock{Key: g.key, Prefix: l.prefix, Token: g.token, Age: now.Sub(l.since), Lost: l.lost, Holder: locking.Holder{
			Instance:    t.instance,
			MessageType: l.who.MessageType,
			TraceID:     l.who.TraceID,
			SpanID:      l.who.SpanID,
			Since:       l.since,
		}})
	}
	byKey := map[string]*Waited{}
	for w, since := range t.waits {
		k := byKey[w.Key]
		if k == nil {
			k = &Waited{Key: w.Key, Prefix: w.Prefix, MessageType: w.Acquirer.MessageType, Since: since}
			byKey[w.Key] = k
		}
		k.Waiters++
		if since.Before(k.Since) {
			k.MessageType, k.Since = w.Acquirer.MessageType, since
		}
	}
	t.mu.Unlock()
	s.Waiting = make([]Waited, 0, len(byKey))
	for _, k := range byKey {
		k.Age = now.Sub(k.Since)
		s.Waiting = append(s.Waiting, *k)
	}
	sort.Slice(s.Held, func(i, j int) bool {
		if s.Held[i].Key != s.Held[j].Key {
			return s.Held[i].Key < s.Held[j].Key
		}
		return s.Held[i].Token < s.Held[j].Token
	})
	sort.Slice(s.Waiting, func(i, j int) bool { return s.Waiting[i].Key < s.Waiting[j].Key })
	return s
}

// ServeHTTP answers GET and HEAD:
//
//   - without a query, 200 and the [Snapshot] of this process;
//   - with ?key=K, what the lock provider knows about K, as a
//     [locking.LockInfo]: 200; 400 when K is empty; 501 when the provider
//     cannot be asked (it is not a [locking.Inspector], or the table knows
//     no provider); 503 when the lookup failed (the backend is unreachable).
//
// Other methods get 405. Every answer is JSON; an error is {"error": "..."}.
func (t *Table) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: "method not allowed: use GET"})
		return
	}
	q := r.URL.Query()
	if keys, ok := q["key"]; ok {
		t.serveKey(w, r, keys)
		return
	}
	writeJSON(w, http.StatusOK, t.Snapshot())
}

// errorBody is every error answer.
type errorBody struct {
	Error string `json:"error"`
	Key   string `json:"key,omitempty"`
}

// serveKey answers ?key=K from the provider's Inspect.
func (t *Table) serveKey(w http.ResponseWriter, r *http.Request, keys []string) {
	if len(keys) != 1 || keys[0] == "" {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "?key= needs one non-empty lock key, the full key as listed (account:42)"})
		return
	}
	key := keys[0]
	t.mu.Lock()
	p := t.provider
	t.mu.Unlock()
	if p == nil {
		writeJSON(w, http.StatusNotImplemented, errorBody{Error: "no lock provider is known to this table: register it on a mediator with a lock provider (Table.Option) or give one with lockdebug.WithProvider", Key: key})
		return
	}
	in, ok := p.(locking.Inspector)
	if !ok {
		writeJSON(w, http.StatusNotImplemented, errorBody{Error: fmt.Sprintf("the lock provider (%T) cannot be asked who holds a key: it does not implement locking.Inspector", p), Key: key})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), t.inspectTimeout)
	defer cancel()
	info, err := in.Inspect(ctx, key)
	if err != nil {
		reason := "lock provider unavailable: " + err.Error()
		if !errors.Is(err, locking.ErrUnavailable) {
			reason = "looking the key up failed: " + err.Error()
		}
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: reason, Key: key})
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// writeJSON writes v, indented for a person reading it with curl.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
