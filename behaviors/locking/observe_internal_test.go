package locking

import (
	"context"
	"testing"

	"github.com/turbomediator/turbomediator-go/internal/grant"
)

type noopObserver struct{}

func (noopObserver) ObserveLock(LockEvent) {}

type noopEventObserver struct{ noopObserver }

func (noopEventObserver) ObserveLockEvent(context.Context, *LockEvent) {}

// benchReport is the event delivery of one locked Send to o: an acquired
// and a released event.
func benchReport(b *testing.B, o Observer) {
	l := &locker{prefix: "acct", msgType: "bench.Withdraw", reporter: newReporter(nil, []Observer{o})}
	s := l.newScope(context.Background())
	var g grant.Grant
	g.Set("acct:42", 7, nil)
	b.ReportAllocs()
	for b.Loop() {
		l.acquired(s, &g, 0)
		l.released(s, &g, 1000, nil)
	}
}

func BenchmarkReportByValue(b *testing.B)   { benchReport(b, noopObserver{}) }
func BenchmarkReportByPointer(b *testing.B) { benchReport(b, noopEventObserver{}) }
