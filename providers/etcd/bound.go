package etcd

import (
	"context"
	"time"
)

// untilDeadline returns a context that ctx's end or deadline cancels,
// whichever comes first, with its cause context.DeadlineExceeded at deadline.
//
// Unlike context.WithDeadline it carries no deadline of its own, so gRPC
// sends none to etcd: the bound is enforced here (the request is cancelled
// when it runs out), and etcd is spared a timer per request on the hot path
// (acquisition and release), which the same-run benchmark against
// concurrency.Mutex showed costs a few percent on a loaded machine.
func untilDeadline(ctx context.Context, deadline time.Time) (context.Context, context.CancelFunc) {
	cctx, cancel := context.WithCancelCause(ctx)
	t := time.AfterFunc(time.Until(deadline), func() { cancel(context.DeadlineExceeded) })
	return cctx, func() {
		t.Stop()
		cancel(context.Canceled)
	}
}
