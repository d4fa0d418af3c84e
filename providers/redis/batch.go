package redis

import (
	"context"
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
// busy queues, and a caller whose call is done sends everything queued
// meanwhile as one pipeline (one write, one read, instead of one of each per
// call) before it returns. A single caller, or a few, never wait for
// anyone; 64 goroutines on distinct keys share round trips and system calls.
//
// A queued caller whose context ends stops waiting at once; its call may
// still be sent, and the caller treats it as a call whose answer was lost.
type batcher struct {
	client Client
	// pipeline makes a pipeline on client; nil when the client has none
	// (then every call runs on its own).
	pipeline func() goredis.Pipeliner

	mu      sync.Mutex
	running int          // calls (or pipelines) under way, at most batchLeaders
	queued  []*batchCall // waiting for a leader
	spare   []*batchCall // the queue's other backing array, swapped in by takeQueued
}

// batchCall is one queued script call.
type batchCall struct {
	ctx    context.Context
	script *goredis.Script
	keys   []string
	args   []any
	n      int64
	err    error
	done   chan struct{} // closed when n and err are set
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
	b.mu.Lock()
	if b.running < batchLeaders || b.pipeline == nil {
		b.running++
		b.mu.Unlock()
		n, err := script.Run(ctx, b.client, keys, args...).Int64()
		b.flushQueued()
		return n, err
	}
	c := &batchCall{ctx: ctx, script: script, keys: keys, args: args, done: make(chan struct{})}
	b.queued = append(b.queued, c)
	b.mu.Unlock()
	select {
	case <-c.done:
		return c.n, c.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// flushQueued sends what queued while the caller's call ran, as pipelines,
// until the queue is empty, and then gives up the caller's place.
func (b *batcher) flushQueued() {
	for {
		b.mu.Lock()
		if len(b.queued) == 0 {
			b.running--
			b.mu.Unlock()
			return
		}
		batch := b.queued
		b.queued, b.spare = b.spare[:0], nil
		b.mu.Unlock()
		b.send(batch)
		clear(batch)
		b.mu.Lock()
		if b.spare == nil {
			b.spare = batch[:0]
		}
		b.mu.Unlock()
	}
}

// send runs batch as one pipeline, bounded by the latest of the calls'
// deadlines, and hands every call its reply.
func (b *batcher) send(batch []*batchCall) {
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
		c.n, c.err = cmds[i].Int64()
		if c.err != nil && strings.HasPrefix(c.err.Error(), "NOSCRIPT") {
			// Redis lost its scripts (a restart): Run loads it again.
			c.n, c.err = c.script.Run(c.ctx, b.client, c.keys, c.args...).Int64()
		}
		close(c.done)
	}
}
