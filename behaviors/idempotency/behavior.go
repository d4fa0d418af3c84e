package idempotency

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"time"

	"go.uber.org/dig"

	"github.com/turbomediator/turbomediator-go/mediator"
)

// Keyed is implemented by a request that can be deduplicated: it returns
// the key the client chose for it (an Idempotency-Key header, say), or ""
// for no deduplication.
type Keyed interface {
	IdempotencyKey() string
}

// Fingerprinter may be implemented by a request to choose what makes two
// requests with the same key "the same": by default, its type's name and its
// JSON encoding.
type Fingerprinter interface {
	IdempotencyFingerprint() []byte
}

// releaseTimeout bounds the Release or Complete that follows the handler; it
// runs on a context the caller's cancellation does not reach.
const releaseTimeout = 5 * time.Second

// WithStore puts s in the container as the [Store] of every
// [WithIdempotency] registration.
func WithStore(s Store) mediator.Option {
	return mediator.Options("idempotency.WithStore", mediator.Provide(func() Store { return s }))
}

// WithMemoryStore registers a new [MemoryStore]: keys are recognised within
// this process only.
func WithMemoryStore() mediator.Option {
	return mediator.Options("idempotency.WithMemoryStore", mediator.Provide(func() Store { return NewMemoryStore(nil) }))
}

type deps struct {
	dig.In
	Store Store `optional:"true"`
}

// WithIdempotency deduplicates requests of type Req by their
// [Keyed.IdempotencyKey]: see the package documentation for what Send
// returns. configure functions adjust Req's [Options]. Build fails with
// [ErrNoStore] when no [Store] is registered.
func WithIdempotency[Req interface {
	mediator.Message[Res]
	Keyed
}, Res any](configure ...func(*Options)) mediator.Option {
	t := reflect.TypeFor[Req]()
	name := "idempotency.WithIdempotency[" + t.String() + "]"
	return mediator.Options(name,
		mediator.WithBehavior[Req, Res](func(d deps) (mediator.Behavior[Req, Res], error) {
			if d.Store == nil {
				return nil, fmt.Errorf("%w (needed by %s): add idempotency.WithMemoryStore() or idempotency.WithStore(s)", ErrNoStore, name)
			}
			var o Options
			for _, f := range configure {
				f(&o)
			}
			o, err := o.withDefaults()
			if err != nil {
				return nil, err
			}
			return &behavior[Req, Res]{store: d.Store, opts: o, typeName: t.String()}, nil
		}))
}

type behavior[Req Keyed, Res any] struct {
	store    Store
	opts     Options
	typeName string
}

// Handle implements mediator.Behavior.
func (b *behavior[Req, Res]) Handle(ctx context.Context, req Req, next mediator.Next[Req, Res]) (res Res, err error) {
	key := req.IdempotencyKey()
	if key == "" {
		return next(ctx, req)
	}
	if err := CheckKey(key); err != nil {
		return res, err
	}
	fp, err := b.fingerprint(req)
	if err != nil {
		return res, err
	}
	token := rand.Text()
	existing, claimed, err := b.store.Claim(ctx, key, Record{Fingerprint: fp, Token: token}, b.opts.Lease)
	if err != nil {
		return res, fmt.Errorf("%w: claiming key %q: %w", ErrUnavailable, key, err)
	}
	if !claimed {
		return b.replay(ctx, key, fp, existing)
	}

	finished := false
	defer func() {
		if finished {
			return
		}
		// The handler failed or panicked: it took no effect, so the key is
		// free for a retry. A panic goes on up.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer cancel()
		if rerr := b.store.Release(rctx, key, token); rerr != nil && err != nil {
			err = errors.Join(err, fmt.Errorf("%w: releasing key %q: %w", ErrUnavailable, key, rerr))
		}
	}()
	res, err = next(ctx, req)
	if err != nil {
		return res, err
	}
	data, err := json.Marshal(res)
	if err != nil {
		return res, fmt.Errorf("idempotency: encoding the response of %s: %w", b.typeName, err)
	}
	finished = true
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	// The effect has happened and res is its answer; a failure to record it
	// only means a retry after the lease would run again, so the caller gets
	// res either way.
	_ = b.store.Complete(cctx, key, token, data, b.opts.TTL)
	return res, nil
}

func (b *behavior[Req, Res]) replay(ctx context.Context, key, fp string, r Record) (res Res, err error) {
	if r.Fingerprint != fp {
		return res, &ConflictError{Key: key}
	}
	if !r.Done {
		return res, &InProgressError{Key: key}
	}
	if err := json.Unmarshal(r.Response, &res); err != nil {
		return res, fmt.Errorf("idempotency: decoding the stored response of %s for key %q: %w", b.typeName, key, err)
	}
	if rep, ok := ctx.Value(reportKey{}).(*Report); ok {
		rep.Replayed = true
	}
	return res, nil
}

func (b *behavior[Req, Res]) fingerprint(req Req) (string, error) {
	h := sha256.New()
	h.Write([]byte(b.typeName))
	h.Write([]byte{0})
	if f, ok := any(req).(Fingerprinter); ok {
		h.Write(f.IdempotencyFingerprint())
	} else {
		data, err := json.Marshal(req)
		if err != nil {
			return "", fmt.Errorf("idempotency: fingerprinting %s: %w", b.typeName, err)
		}
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Report tells the caller of Send what the behavior did; see [WithReport].
type Report struct {
	// Replayed is set when the answer is the stored one of an earlier
	// request with the same key: the handler did not run.
	Replayed bool
}

type reportKey struct{}

// WithReport returns a context for Send in which the behavior fills in r:
//
//	var rep idempotency.Report
//	res, err := mediator.Send(idempotency.WithReport(ctx, &rep), m, cmd)
//	if rep.Replayed { ... }
func WithReport(ctx context.Context, r *Report) context.Context {
	return context.WithValue(ctx, reportKey{}, r)
}
