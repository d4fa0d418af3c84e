package locking_test

import (
	"errors"
	"testing"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/behaviors/locking/internal/lockfixture"
	"github.com/turbomediator/turbomediator-go/mediator"
)

// AuditReport has the name of lockfixture.AuditReport.
type AuditReport struct {
	mediator.Command[mediator.Unit]
	locking.DistributedLock
}

// NamedReportCommand has the name of lockfixture.NamedReportCommand, whose
// prefix is its own.
type NamedReportCommand struct {
	mediator.Command[mediator.Unit]
	locking.DistributedLock
}

const (
	fixturePkg = "github.com/turbomediator/turbomediator-go/behaviors/locking/internal/lockfixture"
	testPkg    = "github.com/turbomediator/turbomediator-go/behaviors/locking_test"
)

func TestDefaultPrefixCollisionFailsBuild(t *testing.T) {
	handlers := []mediator.Option{
		mediator.WithHandler[AuditReport, mediator.Unit](unitHandler[AuditReport]),
		mediator.WithHandler[lockfixture.AuditReport, mediator.Unit](unitHandler[lockfixture.AuditReport]),
	}
	t.Run("per type", func(t *testing.T) {
		mine, mineAt := locking.WithDistributedLocking[AuditReport, mediator.Unit](), lineHere()
		theirs, theirsAt := locking.WithDistributedLocking[lockfixture.AuditReport, mediator.Unit](), lineHere()
		_, err := mediator.New(append(handlers, locking.WithNoOpLocking(), mine, theirs)...)
		var pe *locking.PrefixCollisionError
		if !errors.As(err, &pe) {
			t.Fatalf("Build = %v, want a *PrefixCollisionError", err)
		}
		want := "locking: " + fixturePkg + ".AuditReport (registered at " + theirsAt + ") and " + testPkg + ".AuditReport (registered at " + mineAt + `) both lock under the default prefix "AuditReport", so they would share locks and fencing tokens: ` +
			"give one of them its own prefix, with a prefix= tag on its DistributedLock or KeyPrefix in its WithDistributedLocking options"
		if pe.Error() != want {
			t.Fatalf("error\n%s\nwant\n%s", pe, want)
		}
		var be *mediator.BuildError
		if errors.As(err, &be) && len(be.Problems) != 1 {
			t.Fatalf("%d problems, want the collision reported once: %v", len(be.Problems), err)
		}
	})
	t.Run("global", func(t *testing.T) {
		_, err := mediator.New(append(handlers, locking.WithNoOpLocking(), locking.WithGlobalDistributedLocking())...)
		var pe *locking.PrefixCollisionError
		if !errors.As(err, &pe) {
			t.Fatalf("Build = %v, want a *PrefixCollisionError", err)
		}
		want := "locking: " + testPkg + ".AuditReport and " + fixturePkg + `.AuditReport both lock under the default prefix "AuditReport", so they would share locks and fencing tokens: ` +
			"give one of them its own prefix, with a prefix= tag on its DistributedLock or KeyPrefix in its WithDistributedLocking options"
		if pe.Error() != want {
			t.Fatalf("error\n%s\nwant\n%s", pe, want)
		}
	})
	t.Run("one global, one per type", func(t *testing.T) {
		theirs, theirsAt := locking.WithDistributedLocking[lockfixture.AuditReport, mediator.Unit](), lineHere()
		_, err := mediator.New(append(handlers, locking.WithNoOpLocking(), locking.WithGlobalDistributedLocking(), theirs)...)
		var pe *locking.PrefixCollisionError
		if !errors.As(err, &pe) || pe.First != fixturePkg+".AuditReport" || pe.FirstSource != theirsAt || pe.Second != testPkg+".AuditReport" {
			t.Fatalf("Build = %v, want a *PrefixCollisionError naming both", err)
		}
	})
}

func TestSameNameWithItsOwnPrefixBuilds(t *testing.T) {
	build(t, locking.WithNoOpLocking(),
		locking.WithDistributedLocking[NamedReportCommand, mediator.Unit](),
		locking.WithDistributedLocking[lockfixture.NamedReportCommand, mediator.Unit](),
		mediator.WithHandler[NamedReportCommand, mediator.Unit](unitHandler[NamedReportCommand]),
		mediator.WithHandler[lockfixture.NamedReportCommand, mediator.Unit](unitHandler[lockfixture.NamedReportCommand]))
	build(t, locking.WithNoOpLocking(),
		locking.WithDistributedLocking[AuditReport, mediator.Unit](func(o *locking.Options) { o.KeyPrefix = "report" }),
		locking.WithDistributedLocking[lockfixture.AuditReport, mediator.Unit](),
		mediator.WithHandler[AuditReport, mediator.Unit](unitHandler[AuditReport]),
		mediator.WithHandler[lockfixture.AuditReport, mediator.Unit](unitHandler[lockfixture.AuditReport]))
	// T and *T are one message: sharing the prefix is what they should do.
	build(t, locking.WithNoOpLocking(),
		locking.WithDistributedLocking[AuditReport, mediator.Unit](),
		locking.WithDistributedLocking[*AuditReport, mediator.Unit](),
		mediator.WithHandler[AuditReport, mediator.Unit](unitHandler[AuditReport]),
		mediator.WithHandler[*AuditReport, mediator.Unit](unitHandler[*AuditReport]))
}
