package locking

import (
	"context"
	"reflect"
	"testing"
	"time"
)

type nopProvider struct{}

func (nopProvider) TryAcquire(context.Context, string, time.Duration) (Handle, error) {
	return nil, ErrNotAcquired
}

type nopWaitObserver struct{ ObserverFunc }

func (nopWaitObserver) WaitStarted(context.Context, *Wait) {}
func (nopWaitObserver) WaitEnded(context.Context, *Wait)   {}

// TestWaitReportingOnlyForWaitObservers: the provider is called directly
// unless some observer is a WaitObserver; the check is made at Build.
func TestWaitReportingOnlyForWaitObservers(t *testing.T) {
	type msg struct {
		DistributedLock
	}
	plain := ObserverFunc(func(LockEvent) {})
	p := nopProvider{}
	for _, tc := range []struct {
		name      string
		observers []Observer
		wrapped   bool
	}{
		{"none", nil, false},
		{"plain", []Observer{plain}, false},
		{"wait observer", []Observer{plain, nopWaitObserver{plain}}, true},
	} {
		d := &deps{Provider: p, Observers: tc.observers}
		tl, err := resolve(reflect.TypeFor[msg](), builtinOptions(), nil, d)
		if err != nil {
			t.Fatal(err)
		}
		_, wrapped := tl.provider.(*waitReporter)
		if wrapped != tc.wrapped || (!wrapped && tl.provider != Provider(p)) {
			t.Errorf("%s: provider %T, want wrapped %v", tc.name, tl.provider, tc.wrapped)
		}
		if tl.ident != Provider(p) {
			t.Errorf("%s: ident %v, want the provider itself (re-entry compares it)", tc.name, tl.ident)
		}
	}
}

// openWaits counts the waits it heard start and not end.
type openWaits struct {
	ObserverFunc
	open map[*Wait]bool
}

func (o *openWaits) WaitStarted(_ context.Context, w *Wait) { o.open[w] = true }
func (o *openWaits) WaitEnded(_ context.Context, w *Wait)   { delete(o.open, w) }

type startPanicker struct{ ObserverFunc }

func (startPanicker) WaitStarted(context.Context, *Wait) { panic("start panic") }
func (startPanicker) WaitEnded(context.Context, *Wait)   {}

// TestWaitStartPanicEndsEarlierObserversWaits: when a WaitObserver panics
// as a wait starts, the observers told before it hear the wait end (no
// waiter stays counted), the provider is not asked, and the panic goes on up.
func TestWaitStartPanicEndsEarlierObserversWaits(t *testing.T) {
	first := &openWaits{open: map[*Wait]bool{}}
	asked := false
	r := &waitReporter{
		provider: providerFunc(func() { asked = true }),
		obs:      []WaitObserver{first, startPanicker{}},
	}
	func() {
		defer func() {
			if p := recover(); p != "start panic" {
				t.Fatalf("recovered %v, want the observer's panic", p)
			}
		}()
		_, _ = r.TryAcquire(context.Background(), "k", time.Second)
	}()
	if len(first.open) != 0 || asked {
		t.Fatalf("open waits %d, provider asked %v: want none, false", len(first.open), asked)
	}
}

// providerFunc calls f at each TryAcquire and grants nothing.
type providerFunc func()

func (f providerFunc) TryAcquire(context.Context, string, time.Duration) (Handle, error) {
	f()
	return nil, ErrNotAcquired
}
