package redis

import "sync"

// wakeups let a Release wake the goroutines of the same provider that wait
// for the key, instead of leaving them to their backoff. Waiters in other
// processes are not reached: they retry on their backoff.
type wakeups struct {
	mu sync.Mutex
	m  map[string]*wakeup // by key; removed when woken or when nobody watches
}

// wakeup is closed (ch) by the next release of its key.
type wakeup struct {
	ch       chan struct{}
	watchers int
}

// watch returns the wakeup of key's next release; the caller must unwatch.
func (ws *wakeups) watch(key string) *wakeup {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	w := ws.m[key]
	if w == nil {
		w = &wakeup{ch: make(chan struct{})}
		ws.m[key] = w
	}
	w.watchers++
	return w
}

// unwatch drops the caller's interest in w; the last watcher removes it.
func (ws *wakeups) unwatch(key string, w *wakeup) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	w.watchers--
	if w.watchers == 0 && ws.m[key] == w {
		delete(ws.m, key)
	}
}

// wake wakes every goroutine watching key.
func (ws *wakeups) wake(key string) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if w := ws.m[key]; w != nil {
		close(w.ch)
		delete(ws.m, key)
	}
}
