package mediatortest

import (
	"context"
	"slices"
	"sync"

	"github.com/turbomediator/turbomediator-go/mediator"
)

// Kind tells a sent request from a published notification.
type Kind uint8

const (
	// Sent is a request that went through Send.
	Sent Kind = iota + 1
	// Published is a notification that went through Publish.
	Published
)

// String returns "sent" or "published".
func (k Kind) String() string {
	switch k {
	case Sent:
		return "sent"
	case Published:
		return "published"
	}
	return "unknown"
}

// Record is one Send or Publish seen by a [Recorder].
type Record struct {
	Kind Kind
	// Message is the request or notification, as sent.
	Message any
	// Response is what Send returned (nil for a Publish).
	Response any
	// Err is what the Send or Publish returned.
	Err error
}

// Recorder records every Send and Publish of the mediator it is registered
// in ([Recorder.Option]), in the order they were made (by start), with
// their results. It is safe for concurrent use. The zero value is ready.
type Recorder struct {
	mu      sync.Mutex
	records []*Record
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{} }

// Option registers r in a mediator: a global behavior records every request
// type's Send and a global notification behavior every Publish of a type
// that has a handler or a behavior (use [Sink] for a type the test does not
// handle). Register it first, so it is outermost and sees what the other
// behaviors return.
func (r *Recorder) Option() mediator.Option {
	return mediator.Options("mediatortest.Recorder",
		mediator.WithGlobalBehavior(func(ctx context.Context, req any, next mediator.AnyNext) (any, error) {
			rec := r.start(Sent, req)
			res, err := next(ctx, req)
			r.finish(rec, res, err)
			return res, err
		}),
		mediator.WithGlobalNotificationBehavior(func(ctx context.Context, n any, next mediator.AnyNotificationNext) error {
			rec := r.start(Published, n)
			err := next(ctx, n)
			r.finish(rec, nil, err)
			return err
		}),
	)
}

func (r *Recorder) start(k Kind, msg any) *Record {
	rec := &Record{Kind: k, Message: msg}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec)
	return rec
}

func (r *Recorder) finish(rec *Record, res any, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec.Response, rec.Err = res, err
}

// Records returns a copy of everything recorded so far, in order.
func (r *Recorder) Records() []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Record, len(r.records))
	for i, rec := range r.records {
		out[i] = *rec
	}
	return out
}

// Sent returns the requests sent so far, in order.
func (r *Recorder) Sent() []any { return r.messages(Sent) }

// Published returns the notifications published so far, in order.
func (r *Recorder) Published() []any { return r.messages(Published) }

func (r *Recorder) messages(k Kind) []any {
	var out []any
	for _, rec := range r.Records() {
		if rec.Kind == k {
			out = append(out, rec.Message)
		}
	}
	return out
}

// Reset forgets everything recorded, for a test that sets up state through
// the mediator before the part it asserts on.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = nil
}

// SentOf returns the requests of type T sent so far, in order.
func SentOf[T any](r *Recorder) []T { return ofType[T](r.Sent()) }

// PublishedOf returns the notifications of type T published so far, in
// order.
func PublishedOf[T any](r *Recorder) []T { return ofType[T](r.Published()) }

func ofType[T any](msgs []any) []T {
	var out []T
	for _, m := range msgs {
		if v, ok := m.(T); ok {
			out = append(out, v)
		}
	}
	return slices.Clip(out)
}

// Stub registers a handler for Req that answers res and err to every Send,
// standing in for the real handler of a request the code under test sends.
func Stub[Req mediator.Message[Res], Res any](res Res, err error) mediator.Option {
	return mediator.WithHandler[Req, Res](func(context.Context, Req) (Res, error) { return res, err })
}

// Sink registers a notification handler for N that does nothing, so that
// Publish of N reaches the [Recorder] when the test registers no real
// handler for it.
func Sink[N mediator.Notifier]() mediator.Option {
	return mediator.WithNotificationHandler[N](func(context.Context, N) error { return nil })
}
