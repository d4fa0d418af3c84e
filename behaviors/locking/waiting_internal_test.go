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
