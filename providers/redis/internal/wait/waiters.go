package wait

import (
	"context"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/turbomediator/turbomediator-go/providers/redis/internal/base"
)

// Waiters is what wakes the goroutines of one provider that wait for locks:
// one subscription connection shared by all of them, and per lock key a FIFO
// queue of the local waiters. A release announced on a key's channel wakes
// the head of that key's queue only — the others stay asleep, and nobody
// stampedes Redis. A release made by this provider wakes its local head
// directly, without waiting for the announcement to come back.
//
// Goroutines: the receive loop is started by the first join and stopped by
// close, which waits for it.
type Waiters struct {
	client base.Client
	// self is the owner prefix of this provider; announcements carrying it
	// were already delivered locally.
	self        string
	unsubscribe time.Duration // bound on an UNSUBSCRIBE write
	// health is how long the subscription connection may stay silent before
	// it is pinged, and how long a ping or a subscription may go
	// unanswered before the connection is presumed dead and replaced.
	health time.Duration

	// cmd is a lock (a channel with room for one token, so that a caller
	// can stop waiting for it when its ctx ends) that orders SUBSCRIBE and
	// UNSUBSCRIBE writes together with the decisions that call for them, so
	// a channel's last leave and next join cannot reach Redis in the wrong
	// order. Taken before mu.
	cmd chan struct{}
	// bg counts the goroutines that send SUBSCRIBE and UNSUBSCRIBE for
	// callers that must not wait for a server that may not answer; Add
	// only under mu while not closed, so that close can Wait.
	bg sync.WaitGroup

	mu       sync.Mutex
	queues   map[string]*queue // by channel
	ps       *goredis.PubSub   // nil until the first join; replaced by reconnect
	replaced int               // how many times reconnect replaced ps
	closed   bool
	closing  chan struct{} // closed by close
	loopDone chan struct{} // closed when the receive loop returns; nil if never started
}

// queue holds the local waiters of one key, head first.
type queue struct {
	ws []*Waiter
	// ready is closed when Redis confirms the subscription to the channel:
	// a release after that moment is sure to be announced to us.
	ready     chan struct{}
	confirmed bool
	// subscribed is when the last SUBSCRIBE for the channel was sent; a
	// confirmation overdue by more than health marks the connection dead.
	subscribed time.Time
}

// Waiter is one goroutine waiting in TryAcquire.
type Waiter struct {
	channel string
	q       *queue
	// wake receives a token when the waiter should try again; the buffer of
	// one keeps a wake-up that arrives while it is trying.
	wake chan struct{}
	// notify, when set, is called instead of sending on wake: a Redlock
	// waiter's place in a node's queue passes the node's announcements on
	// to its provider's own queue for the key (see LocalQueues). Leaving
	// such a place has no wake-up to take or hand on.
	notify func()
	// ready is the queue's ready channel for a waiter that was the head when
	// it joined (it must try once more when the subscription is confirmed,
	// in case the lock was freed before that), nil for the others.
	ready <-chan struct{}
}

// NewWaiters returns the waiters of a provider on client, whose owner
// prefix is self; an UNSUBSCRIBE write is bounded by unsubscribe.
func NewWaiters(client base.Client, self string, unsubscribe time.Duration) *Waiters {
	return &Waiters{
		client:      client,
		self:        self,
		unsubscribe: unsubscribe,
		health:      defaultHealthCheck,
		queues:      make(map[string]*queue),
		closing:     make(chan struct{}),
		cmd:         make(chan struct{}, 1),
	}
}

func (ws *Waiters) lockCmd()   { ws.cmd <- struct{}{} }
func (ws *Waiters) unlockCmd() { <-ws.cmd }

// lockCmdCtx takes the command lock unless ctx ends first.
func (ws *Waiters) lockCmdCtx(ctx context.Context) error {
	select {
	case ws.cmd <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// JoinNotify puts a new waiter at the tail of channel's queue, subscribing
// to the channel when the queue is new; its wake-ups call notify (see
// waiter.notify) instead of filling a channel of its own. The caller must
// leave.
func (ws *Waiters) JoinNotify(ctx context.Context, channel string, notify func()) (*Waiter, error) {
	return ws.joinWaiter(ctx, &Waiter{channel: channel, notify: notify})
}

func (ws *Waiters) joinWaiter(ctx context.Context, w *Waiter) (*Waiter, error) {
	channel := w.channel
	if ok, err := ws.joinSubscribedWaiter(w); ok || err != nil {
		if err != nil {
			return nil, err
		}
		return w, nil
	}
	if err := ws.lockCmdCtx(ctx); err != nil {
		return nil, err
	}
	ws.mu.Lock()
	if ws.closed {
		ws.mu.Unlock()
		ws.unlockCmd()
		return nil, base.ErrClosed
	}
	if q := ws.queues[channel]; q != nil {
		ws.enqueueLocked(q, w)
		ws.mu.Unlock()
		ws.unlockCmd()
		return w, nil
	}
	q := &queue{ready: make(chan struct{}), subscribed: time.Now()}
	ws.queues[channel] = q
	ws.enqueueLocked(q, w)
	if ws.ps == nil {
		// No channels yet: go-redis connects on the loop's first Receive.
		ws.ps = ws.client.Subscribe(context.Background())
		ws.loopDone = make(chan struct{})
		go ws.loop(ws.loopDone)
	}
	ps := ws.ps
	ws.bg.Add(1)
	ws.mu.Unlock()

	// The SUBSCRIBE goes out on a goroutine that holds the command lock
	// until it is done: go-redis may make it wait, beyond ctx, for the
	// PubSub's connection, which the receive loop may be opening to a
	// server that does not answer. The caller waits no longer than ctx;
	// a waiter it gave up on is removed by that goroutine.
	j := &joining{done: make(chan error, 1)}
	go ws.subscribe(ctx, ps, w, j)
	select {
	case err := <-j.done:
		if err != nil {
			return nil, err
		}
		return w, nil
	case <-ctx.Done():
		if j.abandon() {
			return nil, ctx.Err()
		}
		if err := <-j.done; err != nil {
			return nil, err
		}
		return w, nil
	}
}

// JoinSubscribedNotify is joinNotify's part that never waits: it queues a
// new waiter when channel already has a queue (its subscription is made or
// under way) and reports whether it did.
func (ws *Waiters) JoinSubscribedNotify(channel string, notify func()) (*Waiter, bool, error) {
	w := &Waiter{channel: channel, notify: notify}
	ok, err := ws.joinSubscribedWaiter(w)
	if !ok || err != nil {
		return nil, ok, err
	}
	return w, true, nil
}

func (ws *Waiters) joinSubscribedWaiter(w *Waiter) (bool, error) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.closed {
		return false, base.ErrClosed
	}
	q := ws.queues[w.channel]
	if q == nil {
		return false, nil
	}
	ws.enqueueLocked(q, w)
	return true, nil
}

// joining is the hand-over between a join and the goroutine that sends its
// SUBSCRIBE: whichever comes second of the goroutine's finish and the
// caller's abandon decides who owns the waiter.
type joining struct {
	mu                  sync.Mutex
	finished, abandoned bool
	done                chan error // the SUBSCRIBE's outcome; room for one
}

// abandon reports whether the caller gave the waiter up before the
// SUBSCRIBE finished; false means the outcome is (or will at once be) in done.
func (j *joining) abandon() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.finished {
		return false
	}
	j.abandoned = true
	return true
}

// finish reports whether the caller had given the waiter up.
func (j *joining) finish() (abandoned bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.finished = true
	return j.abandoned
}

// subscribe sends w's SUBSCRIBE, holding the command lock, and reports the
// outcome to the join. A waiter whose SUBSCRIBE failed, or whose caller gave
// up, leaves its queue here; the last one of a key unsubscribes.
func (ws *Waiters) subscribe(ctx context.Context, ps *goredis.PubSub, w *Waiter, j *joining) {
	defer ws.bg.Done()
	defer ws.unlockCmd()
	err := ps.Subscribe(ctx, w.channel)
	abandoned := j.finish()
	drop := false
	if err != nil || abandoned {
		ws.mu.Lock()
		if ws.removeLocked(w) && len(w.q.ws) > 0 {
			poke(w.q.ws[0])
		}
		if ws.queues[w.channel] == w.q && len(w.q.ws) == 0 {
			delete(ws.queues, w.channel)
			drop = !ws.closed
		}
		ws.mu.Unlock()
	}
	j.done <- err
	if drop {
		// go-redis keeps a channel whose SUBSCRIBE failed, to send it again
		// on its next connection; this takes it out.
		ws.unsubscribeLocked(ps, w.channel)
	}
}

func (ws *Waiters) enqueueLocked(q *queue, w *Waiter) {
	w.q = q
	if len(q.ws) == 0 {
		w.ready = q.ready
	}
	q.ws = append(q.ws, w)
}

// removeLocked takes w out of its queue and reports whether it held an
// unconsumed wake-up, which it takes; a waiter with notify has none.
func (ws *Waiters) removeLocked(w *Waiter) (pending bool) {
	q := w.q
	for i, x := range q.ws {
		if x == w {
			copy(q.ws[i:], q.ws[i+1:])
			q.ws[len(q.ws)-1] = nil
			q.ws = q.ws[:len(q.ws)-1]
			break
		}
	}
	if w.notify != nil {
		return false
	}
	select {
	case <-w.wake:
		return true
	default:
		return false
	}
}

// Leave takes w out of its queue. A waiter that leaves without the lock
// hands an unconsumed wake-up on to the new head, so a release is never
// swallowed by a waiter that gave up. The last waiter of a key unsubscribes.
func (ws *Waiters) Leave(w *Waiter, acquired bool) {
	ws.mu.Lock()
	pending := ws.removeLocked(w)
	if pending && !acquired && len(w.q.ws) > 0 {
		poke(w.q.ws[0])
	}
	if len(w.q.ws) > 0 || ws.closed {
		ws.mu.Unlock()
		return
	}
	// The UNSUBSCRIBE goes out on a goroutine of its own: the caller, done
	// with its acquisition, must not wait for a server that may not answer.
	ws.bg.Add(1)
	ws.mu.Unlock()
	go ws.unsubscribeIdle(w)
}

// unsubscribeIdle drops w's queue and unsubscribes from its channel, unless
// someone joined the queue meanwhile.
func (ws *Waiters) unsubscribeIdle(w *Waiter) {
	defer ws.bg.Done()
	ws.lockCmd()
	defer ws.unlockCmd()
	ws.mu.Lock()
	if ws.queues[w.channel] != w.q || len(w.q.ws) > 0 || ws.closed {
		ws.mu.Unlock()
		return
	}
	delete(ws.queues, w.channel)
	ps := ws.ps
	ws.mu.Unlock()
	ws.unsubscribeLocked(ps, w.channel)
}

// unsubscribeLocked is called with the command lock held. A failed
// UNSUBSCRIBE leaves a subscription whose announcements find no queue and
// are dropped.
func (ws *Waiters) unsubscribeLocked(ps *goredis.PubSub, channel string) {
	ctx, cancel := context.WithTimeout(context.Background(), ws.unsubscribe)
	defer cancel()
	_ = ps.Unsubscribe(ctx, channel)
}

func poke(w *Waiter) {
	if w.notify != nil {
		w.notify()
		return
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// WakeHead wakes the first waiter for channel's key, if any.
func (ws *Waiters) WakeHead(channel string) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if q := ws.queues[channel]; q != nil && len(q.ws) > 0 {
		poke(q.ws[0])
	}
}

// wakeAll wakes every waiter: the subscription connection failed, so any
// announcement may have been missed.
func (ws *Waiters) wakeAll() {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for _, q := range ws.queues {
		for _, w := range q.ws {
			poke(w)
		}
	}
}

func (ws *Waiters) confirm(channel string) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if q := ws.queues[channel]; q != nil && !q.confirmed {
		q.confirmed = true
		select {
		case <-q.ready: // confirmed before, on a connection since replaced
		default:
			close(q.ready)
		}
	}
}

// loop receives from the subscription connection until close. It is the
// only reader of the connection, and the only caller of reconnect.
func (ws *Waiters) loop(done chan<- struct{}) {
	defer close(done)
	failures := 0
	pinged := false // a PING is waiting for its PONG
	for {
		ps := ws.current()
		if ps == nil {
			return
		}
		msg, err := ps.ReceiveTimeout(context.Background(), ws.health)
		if err != nil {
			select {
			case <-ws.closing:
				return
			default:
			}
			if isTimeout(err) {
				// Silence: ask, and if the last question went unanswered
				// (or a subscription was never confirmed), the link is
				// dead without an error, as behind a dropping firewall.
				if pinged || ws.overdue() {
					ws.reconnect()
					pinged = false
					continue
				}
				ctx, cancel := context.WithTimeout(context.Background(), ws.health)
				pinged = ps.Ping(ctx) == nil
				cancel()
				continue
			}
			ws.wakeAll()
			// go-redis reconnects on the next Receive; pause between
			// failed attempts so a dead server is not dialled in a loop.
			failures++
			pause := min(time.Duration(failures)*20*time.Millisecond, time.Second)
			t := time.NewTimer(pause)
			select {
			case <-ws.closing:
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		failures = 0
		switch m := msg.(type) {
		case *goredis.Message:
			if !strings.HasPrefix(m.Payload, ws.self) {
				ws.WakeHead(m.Channel)
			}
		case *goredis.Subscription:
			if m.Kind == "subscribe" {
				ws.confirm(m.Channel)
			}
		case *goredis.Pong:
			pinged = false
			if ws.overdue() {
				ws.reconnect()
			}
		}
	}
}

// Close stops the receive loop and closes the subscription connection,
// and waits for the goroutines sending SUBSCRIBE and UNSUBSCRIBE. Waiters
// still queued see base.ErrClosed on their next join; those waiting are woken
// and find the provider closed.
func (ws *Waiters) Close() {
	ws.lockCmd()
	ws.mu.Lock()
	if ws.closed {
		ws.mu.Unlock()
		ws.unlockCmd()
		return
	}
	ws.closed = true
	close(ws.closing)
	ps, done := ws.ps, ws.loopDone
	ws.mu.Unlock()
	ws.unlockCmd()
	if ps != nil {
		_ = ps.Close()
		<-done
	}
	ws.bg.Wait()
}

// Closing returns the channel closed when Close starts: a waiter stops
// waiting then.
func (ws *Waiters) Closing() <-chan struct{} { return ws.closing }

// Ready returns the channel closed when Redis confirms the subscription to
// the waiter's channel.
func (w *Waiter) Ready() <-chan struct{} { return w.q.ready }

// SetHealthCheck changes how long the subscription connection may stay
// silent before it is pinged (default 5s); tests shorten it. Call it before
// the first join.
func (ws *Waiters) SetHealthCheck(d time.Duration) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	ws.health = d
}

// State reports whether the subscription to channel is confirmed, and how
// many times a dead subscription connection was replaced, for tests.
func (ws *Waiters) State(channel string) (confirmed bool, replaced int) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if q := ws.queues[channel]; q != nil {
		confirmed = q.confirmed
	}
	return confirmed, ws.replaced
}
