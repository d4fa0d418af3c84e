package locking

import (
	"context"
	"slices"
)

// scopeKey finds the innermost lock scope in a context.
type scopeKey struct{}

// CallerLocal marks the scope as the caller's own: a background Publish
// does not pass it on, so its delivery never borrows the caller's locks,
// which may be released before it runs.
func (scopeKey) CallerLocal() {}

func scopeOf(ctx context.Context) *scope {
	s, _ := ctx.Value(scopeKey{}).(*scope)
	return s
}

// FromContext returns the innermost lock held for the handler that got ctx:
// for a message with several keys, the handle of the first key in sorted
// order (see [AllFromContext] for all of them). Its Token is the fencing
// token to guard a write with. ok is false outside a locked handler, and
// after the handler has returned.
func FromContext(ctx context.Context) (h Handle, ok bool) {
	s := scopeOf(ctx)
	if s == nil || s.over.Load() || len(s.handles()) == 0 {
		return nil, false
	}
	return s.handles()[0], true
}

// AllFromContext returns every handle of the innermost lock scope in ctx, in
// key order: one per key of a [MultiKeyProvider] message. It returns nil
// outside a locked handler. The slice is the caller's to keep.
func AllFromContext(ctx context.Context) []Handle {
	s := scopeOf(ctx)
	if s == nil || s.over.Load() {
		return nil
	}
	return slices.Clone(s.handles())
}

// HandleFor returns the handle of key (a final key such as
// "WithdrawCommand:42") if ctx carries a lock scope, innermost or enclosing,
// that holds it.
func HandleFor(ctx context.Context, key string) (h Handle, ok bool) {
	h = scopeOf(ctx).find(nil, key)
	return h, h != nil
}
