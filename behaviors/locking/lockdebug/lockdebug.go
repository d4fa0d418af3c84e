// Package lockdebug shows the distributed locks this process holds, as JSON
// over HTTP, for an operator asking "who holds it, and since when".
//
// A [Table] is a [locking.Observer]: register it with [Table.Option] and
// mount it, like net/http/pprof, at /debug/locks:
//
//	locks := lockdebug.New()
//	m, err := mediator.New(locks.Option(), ...)
//	http.Handle("/debug/locks", locks)
//
// It knows what the locking behavior of this process reports: the locks it
// was granted and has not released yet. It does not ask the provider, so it
// shows neither other processes' locks nor this process's waiters.
package lockdebug

import (
	"encoding/json"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
)

// Lock is one lock this process holds.
type Lock struct {
	// Key is the full lock key ("myapp:WithdrawCommand:42").
	Key string `json:"key"`
	// Prefix is the key prefix of the message type.
	Prefix string `json:"prefix"`
	// Token is the lock's fencing token.
	Token uint64 `json:"token"`
	// Since is when the lock was granted.
	Since time.Time `json:"since"`
	// Age is how long it has been held, when the table was read.
	Age time.Duration `json:"age_ns"`
	// Lost is true once the provider could no longer vouch for the lock;
	// it stays listed until the handler returns and it is released.
	Lost bool `json:"lost,omitempty"`
}

// Table keeps the locks this process holds now. It is safe for concurrent
// use; the zero value is not: make one with [New].
type Table struct {
	now  func() time.Time
	mu   sync.Mutex
	held map[grant]*Lock
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

// New returns an empty table.
func New(opts ...Option) *Table {
	t := &Table{now: time.Now, held: map[grant]*Lock{}}
	for _, o := range opts {
		o(t)
	}
	return t
}

// Option registers t as an observer of the mediator's locking behavior.
func (t *Table) Option() mediator.Option { return locking.WithObserver(t) }

// ObserveLock adds a granted lock, marks a lost one, removes a released one.
func (t *Table) ObserveLock(e locking.LockEvent) {
	g := grant{key: e.Key, token: e.Token}
	switch e.Outcome {
	case locking.Acquired:
		now := t.now()
		t.mu.Lock()
		t.held[g] = &Lock{Key: e.Key, Prefix: e.Prefix, Token: e.Token, Since: now}
		t.mu.Unlock()
	case locking.Lost:
		t.mu.Lock()
		if l, ok := t.held[g]; ok {
			l.Lost = true
		}
		t.mu.Unlock()
	case locking.Released:
		t.mu.Lock()
		delete(t.held, g)
		t.mu.Unlock()
	}
}

// Held returns the locks held now, by key, then token.
func (t *Table) Held() []Lock {
	now := t.now()
	t.mu.Lock()
	out := make([]Lock, 0, len(t.held))
	for _, l := range t.held {
		c := *l
		c.Age = now.Sub(c.Since)
		out = append(out, c)
	}
	t.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Key != out[j].Key {
			return out[i].Key < out[j].Key
		}
		return out[i].Token < out[j].Token
	})
	return out
}

// Snapshot is the JSON document the handler answers.
type Snapshot struct {
	// Held are the locks this process holds, by key.
	Held []Lock `json:"held"`
}

// ServeHTTP answers GET and HEAD with the [Snapshot] as JSON; ?key=K keeps
// the locks whose key is K. Other methods get 405.
func (t *Table) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusMethodNotAllowed)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "method not allowed"})
		return
	}
	held := t.Held()
	if key := r.URL.Query().Get("key"); key != "" {
		kept := held[:0]
		for _, l := range held {
			if l.Key == key {
				kept = append(kept, l)
			}
		}
		held = kept
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(Snapshot{Held: held})
}
