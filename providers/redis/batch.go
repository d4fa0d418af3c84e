package redis

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// batchLeaders is how many script calls of one provider go to Redis on
// their own at once; calls beyond that wait and go in the next pipeline.
const batchLeaders = 4

// batcher sends the acquire and release scripts of many goroutines to Redis
// together when there are many: up to batchLeaders calls run at once, each
// by its own caller, as if there were no batcher; a call that finds them all
// busy queues. When a call under way ends, its caller hands its place to the
// first queued caller, which sends everything queued by then as one pipeline
// (one write, one read, instead of one of each per call), and hands the
// place on in turn. So nobody sends more than its own call and one batch
// that includes it; a single caller, or a few, never wait for anyone; and 64
// goroutines on distinct keys share round trips and system calls.
//
// A queued caller whose context ends stops waiting at once; its call may
// still be sent, and the caller treats it as a call whose answer was lost.
type batcher struct {
	client Client
	// pipeline makes a pipeline on client; nil when the client has none
	// (then every call runs on its own).
	pipeline func() goredis.Pipeliner

	mu      sync.Mutex
	running int          // places taken: calls or pipelines under way, at most batchLeaders
	queued  []*batchCall // waiting for a place
}

// batchCall is one queued script call.
type batchCall struct {
	ctx    context.Context
	script *goredis.Script
	keys   []string
	args   []any
	val    any
	err    error
	done   chan struct{} // closed when val and err are set
	lead   chan struct{} // receives the place of a call that ended: send the queue
	// leading is set, under batcher.mu, when the call was given a place.
	leading bool
}

func newBatcher(client Client) *batcher {
	b := &batcher{client: client}
	if pc, ok := client.(interface{ Pipeline() goredis.Pipeliner }); ok {
		b.pipeline = pc.Pipeline
	}
	return b
}

// run runs script on Redis and returns its integer reply.
func (b *batcher) run(ctx context.Context, script *goredis.Script, keys []string, args ...any) (int64, error) {
	v, err := b.do(ctx, script, keys, args...)
	if err != nil {
		return 0, err
	}
	return replyInt64(v)
}

// replyInt64 is an integer reply of a script.
func replyInt64(v any) (int64, error) {
	if n, ok := v.(int64); ok {
		return n, nil
	}
	return 0, fmt.Errorf("redis: unexpected script reply %T, want an integer", v)
}

// do runs script on Redis and returns its reply.
func (b *batcher) do(ctx context.Context, script *goredis.Script, keys []string, args ...any) (any, error) {
	b.mu.Lock()
	if b.running < batchLeaders || b.pipeline == nil {
		b.running++
		b.mu.Unlock()
		v, err := script.Run(ctx, b.client, keys, args...).Result()
		b.passPlace()
		return v, err
	}
	if d, ok := ctx.Deadline(); ok {
		// The contexts of acquire and release calls carry a deadline
		// without a timer (see attemptContext): a queued call needs one
		// to stop waiting at its deadline.
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d)
		defer cancel()
	}
	c := &batchCall{ctx: ctx, script: script, keys: keys, args: args, done: make(chan struct{}), lead: make(chan struct{}, 1)}
	b.queued = append(b.queued, c)
	b.mu.Unlock()
	gotLead := false
	select {
	case <-c.done:
	case <-c.lead:
		gotLead = true
	case <-ctx.Done():
	}
	b.mu.Lock()
	leading := c.leading
	if !leading {
		// Not given a place: if no batch took the call yet and ctx ended,
		// it leaves the queue.
		if i := slices.Index(b.queued, c); i >= 0 && ctx.Err() != nil {
			b.queued = slices.Delete(b.queued, i, i+1)
		}
	}
	b.mu.Unlock()
	if leading {
		// Given a place (perhaps as ctx ended): the call, taken out of the
		// queue, goes with the queue, and the place passes on.
		if !gotLead {
			<-c.lead
		}
		b.sendQueued(c)
		b.passPlace()
	}
	select {
	case <-c.done:
		return c.val, c.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// passPlace hands the caller's place to the first queued call, which it
// takes out of the queue (a call is given a place once), or frees it.
func (b *batcher) passPlace() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.queued) == 0 {
		b.running--
		return
	}
	c := b.queued[0]
	b.queued = slices.Delete(b.queued, 0, 1)
	c.leading = true
	c.lead <- struct{}{}
}

// sendQueued sends lead's call and every queued call as one pipeline,
// bounded by the latest of their deadlines, and hands each its reply.
func (b *batcher) sendQueued(lead *batchCall) {
	b.mu.Lock()
	batch := append([]*batchCall{lead}, b.queued...)
	b.queued = nil
	b.mu.Unlock()
	var deadline time.Time
	for _, c := range batch {
		d, ok := c.ctx.Deadline()
		if !ok {
			deadline = time.Time{}
			break
		}
		if d.After(deadline) {
			deadline = d
		}
	}
	ctx := context.Background()
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	pipe := b.pipeline()
	cmds := make([]*goredis.Cmd, len(batch))
	for i, c := range batch {
		cmds[i] = pipe.EvalSha(ctx, c.script.Hash(), c.keys, c.args...)
	}
	_, _ = pipe.Exec(ctx)
	for i, c := range batch {
		c.val, c.err = cmds[i].Result()
		if c.err != nil && strings.HasPrefix(c.err.Error(), "NOSCRIPT") {
			// Redis lost its scripts (a restart): Run loads it again.
			c.val, c.err = c.script.Run(c.ctx, b.client, c.keys, c.args...).Result()
		}
		close(c.done)
	}
}
