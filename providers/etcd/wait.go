package etcd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// errTimedOut ends a wait whose timeout ran out.
var errTimedOut = errors.New("etcd: timed out waiting for the lock")

// waitTurn waits until no entry of queue was created before rev: it finds
// the entry just before its own and watches it until it is deleted, then
// looks again (the one before may have given up while an older one still
// holds). Nothing polls: each step waits on a watch event. It returns nil
// when the caller is first, errTimedOut at deadline, ctx's error, or an
// error when etcd failed, lost its leader or the session was lost.
func (p *Provider) waitTurn(ctx context.Context, sess *session, queue string, rev int64, deadline time.Time) error {
	for {
		gctx, cancel := context.WithDeadline(ctx, earliest(deadline, time.Now().Add(p.s.requestTimeout)))
		resp, err := p.client.Get(gctx, queue, append(clientv3.WithLastCreate(), clientv3.WithMaxCreateRev(rev-1))...)
		cancel()
		if err != nil {
			if ctx.Err() == nil && !time.Now().Before(deadline) {
				return errTimedOut
			}
			return fmt.Errorf("etcd: reading the queue: %w", err)
		}
		if len(resp.Kvs) == 0 {
			return nil
		}
		if err := p.waitDeleted(ctx, sess, string(resp.Kvs[0].Key), resp.Header.Revision+1, deadline); err != nil {
			return err
		}
	}
}

// waitDeleted watches key from revision from until it is deleted.
func (p *Provider) waitDeleted(ctx context.Context, sess *session, key string, from int64, deadline time.Time) error {
	wctx, cancel := context.WithDeadline(clientv3.WithRequireLeader(ctx), deadline)
	defer cancel()
	// A Watch call blocks while etcd is unreachable; a lost session ends it.
	defer context.AfterFunc(sess.ctx, cancel)()
	wch := p.client.Watch(wctx, key, clientv3.WithRev(from), clientv3.WithFilterPut())
	for {
		select {
		case <-sess.done:
			return errors.New("etcd: the session lease was lost while waiting")
		case wr, ok := <-wch:
			if !ok || wr.Canceled {
				switch {
				case sess.ctx.Err() != nil:
					return errors.New("etcd: the session lease was lost while waiting")
				case ctx.Err() != nil:
					return ctx.Err()
				case !time.Now().Before(deadline):
					return errTimedOut
				case wr.CompactRevision != 0:
					return nil // compacted: look at the queue again
				case wr.Err() != nil:
					return fmt.Errorf("etcd: watching the entry ahead: %w", wr.Err())
				}
				return errors.New("etcd: watch closed")
			}
			for _, ev := range wr.Events {
				if ev.Type == mvccpb.DELETE {
					return nil
				}
			}
		}
	}
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
