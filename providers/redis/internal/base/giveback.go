package base

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Give-backs are the owner-compare deletions that must reach Redis even
// though the call that needed them failed: the grant of an acquisition whose
// reply was lost (the script may have run: an orphan grant would block the
// key for a whole lease), and a Release that Redis did not confirm (the key
// would stay blocked until its lease ran out). Each runs on a goroutine of
// its own, again and again with a short backoff, until Redis answers, the
// lease it undoes would have ended anyway, or the provider closes.
//
// A go-redis pool counts its failed dials over its whole life; once it has
// seen PoolSize of them it stops dialling and probes the server once a
// second until one connects, so a call through it may fail for up to a
// second after Redis is back. Retries through the client while Redis is
// down would trip that breaker (and the Releases of many locks during an
// outage trip it anyway), keeping keys blocked up to a second and more
// after Redis answers again. So each node has a reachGate: while the server
// refuses connections, one goroutine dials it every few milliseconds with
// the client's own dialer, outside any pool, and the give-backs wait for
// it; and the give-backs of a go-redis *Client run on a small client of
// their own with the same settings, whose pool sees only tries made after
// the server accepted a connection, so its breaker stays closed.

// giveBackMaxPause is the longest pause between two tries of a give-back
// whose node accepts connections but failed the call (a lost reply, a
// server still loading its data), or whose client's address is unknown.
const giveBackMaxPause = 200 * time.Millisecond

// giveBackMinPause is the first pause between two tries.
const giveBackMinPause = 10 * time.Millisecond

// probeMaxPause is the longest pause between two dials of a reachGate's
// probe: a server that accepts connections again has the waiting
// give-backs tried within about this much.
const probeMaxPause = 25 * time.Millisecond

// giveBackPoolSize bounds the connections of the give-backs' own client
// to a node (a go-redis pool's breaker opens after this many failed dials,
// which only a server that died again right after accepting the probe's
// connection makes).
const giveBackPoolSize = 4

// probeTimeout bounds one dial of the probe (a server that drops packets
// does not answer the dial at all).
const probeTimeout = time.Second

// GiveBacks runs and tracks the give-backs of one provider. Close stops
// them (after the try in flight) and waits for them.
type GiveBacks struct {
	// parent is the context of every try: the Redlock provider's, which
	// its Close cancels (its node calls end then), or Background.
	parent     context.Context
	tryTimeout time.Duration // bound of one try: Options.ReleaseTimeout
	gates      []*reachGate  // per node (one for the single-node provider)

	mu      sync.Mutex
	closed  bool
	closing chan struct{}
	running sync.WaitGroup
}

// NewGiveBacks returns the give-backs of a provider on nodes (one client
// for the single-node provider, node i's at index i for Redlock): each try
// runs on a context derived from parent, bounded by tryTimeout.
func NewGiveBacks(parent context.Context, tryTimeout time.Duration, nodes ...Client) *GiveBacks {
	g := &GiveBacks{parent: parent, tryTimeout: tryTimeout, closing: make(chan struct{})}
	g.gates = make([]*reachGate, len(nodes))
	for i, c := range nodes {
		g.gates[i] = newReachGate(c)
	}
	return g
}

// Run calls try until it returns nil (Redis answered), until the lease it
// undoes would have ended (until), or until close, on a goroutine of its
// own; before each try it waits until node accepts connections (see
// reachGate). After close it makes one try on the caller's goroutine. Each
// try is bounded by tryTimeout and until.
func (g *GiveBacks) Run(node int, until time.Time, try func(ctx context.Context, c Client) error) {
	g.mu.Lock()
	gate := g.gates[node]
	if g.closed {
		g.mu.Unlock()
		g.tryOnce(until, gate.main, try)
		return
	}
	g.running.Add(1)
	g.mu.Unlock()
	go func() {
		defer g.running.Done()
		pause := giveBackMinPause
		for {
			waited, ok := gate.await(g, until)
			if !ok {
				return
			}
			if waited {
				// The node was down and accepts connections again: try
				// now, and from the shortest pause should it fail.
				pause = giveBackMinPause
			}
			if g.tryOnce(until, gate.client(), try) == nil {
				return
			}
			wait := min(pause, time.Until(until))
			if wait <= 0 {
				return
			}
			t := time.NewTimer(wait)
			select {
			case <-g.closing:
				t.Stop()
				return
			case <-t.C:
			}
			pause = min(2*pause, giveBackMaxPause)
		}
	}()
}

// reachGate holds a node's give-backs back while the node refuses
// connections, so that their tries do not count against the client pool's
// dial breaker: one probe goroutine, started by the first give-back that
// waits and ended when the node accepts a connection, when no give-back
// waits any more or when the provider closes, dials the server outside the
// pool every probeMaxPause at most.
type reachGate struct {
	main Client // the provider's client to the node
	// opts are main's settings when it is a go-redis *Client, nil
	// otherwise (a cluster client, a wrapper): the give-backs then try
	// through main, with their own pauses.
	opts *goredis.Options
	// dial connects to the node as main would, outside its pool; nil when
	// opts is.
	dial func(ctx context.Context) (net.Conn, error)

	mu      sync.Mutex
	waiting int             // give-backs in await
	up      chan struct{}   // closed when the running probe connected; nil when none runs
	own     *goredis.Client // the give-backs' client, made on first use
	closed  bool            // own is closed; later tries use main
}

// newReachGate returns the gate of the node main talks to.
func newReachGate(main Client) *reachGate {
	r := &reachGate{main: main}
	oc, ok := main.(interface{ Options() *goredis.Options })
	if !ok {
		return r
	}
	o := oc.Options()
	if o == nil || o.Dialer == nil || o.Addr == "" {
		return r
	}
	r.opts = o
	network, addr, dial := o.Network, o.Addr, o.Dialer
	if network == "" {
		network = "tcp"
	}
	r.dial = func(ctx context.Context) (net.Conn, error) { return dial(ctx, network, addr) }
	return r
}

// client returns the client the give-backs try through: their own, with
// main's settings but a pool of at most giveBackPoolSize connections that
// keeps at most one idle, or main when main is not a go-redis *Client.
func (r *reachGate) client() Client {
	if r.opts == nil {
		return r.main
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return r.main
	}
	if r.own == nil {
		o := *r.opts
		o.PoolSize, o.MinIdleConns, o.MaxIdleConns = giveBackPoolSize, 0, 1
		o.MaxActiveConns = 0
		// Not main's: go-redis writes main's maintenance notification
		// settings while its connections start (reading them here would
		// race), and main's push processor holds main's handlers.
		o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
		o.PushNotificationProcessor = nil
		r.own = goredis.NewClient(&o)
	}
	return r.own
}

// closeClient closes the give-backs' own client, once they are over.
func (r *reachGate) closeClient() {
	r.mu.Lock()
	own := r.own
	r.own, r.closed = nil, true
	r.mu.Unlock()
	if own != nil {
		_ = own.Close()
	}
}

// await returns once the node accepts a connection (ok), or with ok false
// when until passed or the provider closed. waited says whether the node
// refused the first probe.
func (r *reachGate) await(g *GiveBacks, until time.Time) (waited, ok bool) {
	if r.dial == nil {
		return false, true
	}
	if r.reachable(g.parent) {
		return false, true
	}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return true, false
	}
	r.mu.Lock()
	r.waiting++
	if r.up == nil {
		r.up = make(chan struct{})
		g.running.Add(1)
		go r.probe(g, r.up)
	}
	up := r.up
	r.mu.Unlock()
	g.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.waiting--
		r.mu.Unlock()
	}()
	t := time.NewTimer(time.Until(until))
	defer t.Stop()
	select {
	case <-up:
		return true, true
	case <-g.closing:
		return true, false
	case <-t.C:
		return true, false
	}
}

// reachable reports whether one dial to the node connects.
func (r *reachGate) reachable(parent context.Context) bool {
	ctx, cancel := context.WithTimeout(parent, probeTimeout)
	defer cancel()
	conn, err := r.dial(ctx)
	if err != nil {
		return false
	}
	_ = conn.Close()
	return true
}

// probe dials the node until it connects (then closes up), until no
// give-back waits, or until the provider closes.
func (r *reachGate) probe(g *GiveBacks, up chan struct{}) {
	defer g.running.Done()
	pause := time.Millisecond
	for {
		if r.reachable(g.parent) {
			r.mu.Lock()
			r.up = nil
			close(up)
			r.mu.Unlock()
			return
		}
		t := time.NewTimer(pause)
		select {
		case <-g.closing:
			t.Stop()
		case <-t.C:
		}
		r.mu.Lock()
		if r.waiting == 0 || g.isClosed() {
			// Nobody waits: a later give-back starts a new probe.
			r.up = nil
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		pause = min(2*pause, probeMaxPause)
	}
}

func (g *GiveBacks) isClosed() bool {
	select {
	case <-g.closing:
		return true
	default:
		return false
	}
}

func (g *GiveBacks) tryOnce(until time.Time, c Client, try func(ctx context.Context, c Client) error) error {
	ctx, cancel := context.WithDeadline(g.parent, Earliest(until, time.Now().Add(g.tryTimeout)))
	defer cancel()
	return try(ctx, c)
}

// Close stops the give-backs after their try in flight and waits for them.
func (g *GiveBacks) Close() {
	g.mu.Lock()
	if !g.closed {
		g.closed = true
		close(g.closing)
	}
	g.mu.Unlock()
	g.running.Wait()
	for _, r := range g.gates {
		r.closeClient()
	}
}

// MayHaveRun reports whether a call that failed with err may still have
// been carried out by Redis: its request may have left (a reset, a timeout,
// a lost reply). A call that never left — the dial failed, the pool had no
// connection, the client is closed — or that Redis refused with an error
// reply did not run, and needs no give-back.
func MayHaveRun(err error) bool {
	if err == nil {
		return false
	}
	var rerr goredis.Error
	if errors.As(err, &rerr) {
		return false
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return false
	}
	return !errors.Is(err, goredis.ErrClosed) && !errors.Is(err, goredis.ErrPoolTimeout) &&
		!errors.Is(err, ErrEvictionPolicy) // the connection's check failed before the call
}

// Earliest returns the earlier of a and b.
func Earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
