package postgres

import "sync"

// queues keeps, per key, the provider's callers waiting for it in arrival
// order. Only the head of a key's queue talks to PostgreSQL (it waits in the
// server's lock queue on a connection of its own); the others wait on a
// channel and cost neither a connection nor a round trip. A key's entry is
// removed when its queue empties, so idle keys leave nothing behind.
type queues struct {
	mu   sync.Mutex
	keys map[string][]*waiter
}

// waiter is one caller in a key's queue; turn is closed when it becomes the
// head.
type waiter struct {
	turn chan struct{}
}

func newQueues() *queues { return &queues{keys: make(map[string][]*waiter)} }

// join puts a new waiter at the end of key's queue and reports whether it is
// the head already.
func (q *queues) join(key string) (*waiter, bool) {
	w := &waiter{turn: make(chan struct{})}
	q.mu.Lock()
	defer q.mu.Unlock()
	ws := append(q.keys[key], w)
	q.keys[key] = ws
	if len(ws) == 1 {
		close(w.turn)
		return w, true
	}
	return w, false
}

// leave takes w out of key's queue. When w was the head, the next waiter
// becomes the head (its turn is closed).
func (q *queues) leave(key string, w *waiter) {
	q.mu.Lock()
	defer q.mu.Unlock()
	ws := q.keys[key]
	for i, x := range ws {
		if x != w {
			continue
		}
		copy(ws[i:], ws[i+1:])
		ws[len(ws)-1] = nil
		ws = ws[:len(ws)-1]
		if len(ws) == 0 {
			delete(q.keys, key)
			return
		}
		q.keys[key] = ws
		if i == 0 {
			close(ws[0].turn)
		}
		return
	}
}

// count returns how many callers wait for key (the head included).
func (q *queues) count(key string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.keys[key])
}

// size returns how many keys have waiters.
func (q *queues) size() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.keys)
}
