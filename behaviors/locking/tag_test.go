package locking_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
)

// One message type per malformed tag: a tag belongs to a type.

type UnknownWordCommand struct {
	mediator.Command[mediator.Unit]
	locking.DistributedLock `lock:"prefix=x,colour=red"`
}
type BadDurationCommand struct {
	mediator.Command[mediator.Unit]
	locking.DistributedLock `lock:"timeout=soon"`
}
type NegativeTimeoutCommand struct {
	mediator.Command[mediator.Unit]
	locking.DistributedLock `lock:"timeout=-1s"`
}
type NegativeSecondsCommand struct {
	mediator.Command[mediator.Unit]
	locking.DistributedLock `lock:"timeout=-3"`
}
type BadBoolCommand struct {
	mediator.Command[mediator.Unit]
	locking.DistributedLock `lock:"throw=maybe"`
}
type DuplicateWordCommand struct {
	mediator.Command[mediator.Unit]
	locking.DistributedLock `lock:"timeout=1s,timeout=2s"`
}
type NoValueCommand struct {
	mediator.Command[mediator.Unit]
	locking.DistributedLock `lock:"throw"`
}
type EmptyPrefixCommand struct {
	mediator.Command[mediator.Unit]
	locking.DistributedLock `lock:"prefix="`
}
type BadFieldWordCommand struct {
	mediator.Command[mediator.Unit]
	locking.DistributedLock
	ID string `lock:"keys"`
}
type FloatKeyCommand struct {
	mediator.Command[mediator.Unit]
	locking.DistributedLock
	Ratio float64 `lock:"key"`
}
type TwoKeySourcesCommand struct {
	mediator.Command[mediator.Unit]
	locking.DistributedLock
	ID string `lock:"key"`
}

func (c TwoKeySourcesCommand) LockKey() string { return c.ID }

func buildTagged[Req mediator.Message[mediator.Unit]]() error {
	_, err := mediator.New(
		locking.WithNoOpLocking(),
		locking.WithDistributedLocking[Req, mediator.Unit](),
		mediator.WithHandler[Req, mediator.Unit](func(context.Context, Req) (mediator.Unit, error) { return mediator.Unit{}, nil }),
	)
	return err
}

func TestMalformedTagFailsBuildNamingTypeAndWord(t *testing.T) {
	cases := []struct {
		name  string
		build func() error
		typ   string
		word  string
	}{
		{"unknown word", buildTagged[UnknownWordCommand], "UnknownWordCommand", "colour=red"},
		{"bad duration", buildTagged[BadDurationCommand], "BadDurationCommand", "timeout=soon"},
		{"negative duration", buildTagged[NegativeTimeoutCommand], "NegativeTimeoutCommand", "timeout=-1s"},
		{"negative seconds", buildTagged[NegativeSecondsCommand], "NegativeSecondsCommand", "timeout=-3"},
		{"bad bool", buildTagged[BadBoolCommand], "BadBoolCommand", "throw=maybe"},
		{"duplicate word", buildTagged[DuplicateWordCommand], "DuplicateWordCommand", "timeout=2s"},
		{"word without value", buildTagged[NoValueCommand], "NoValueCommand", "throw"},
		{"empty prefix", buildTagged[EmptyPrefixCommand], "EmptyPrefixCommand", "prefix="},
		{"field tag other than key", buildTagged[BadFieldWordCommand], "BadFieldWordCommand", "keys"},
		{"key field of an unusable kind", buildTagged[FloatKeyCommand], "FloatKeyCommand", "float64"},
		{"key fields and LockKey together", buildTagged[TwoKeySourcesCommand], "TwoKeySourcesCommand", "key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("Build panicked: %v", p)
					}
				}()
				err = c.build()
			}()
			if err == nil {
				t.Fatal("Build succeeded")
			}
			var te *locking.TagError
			if !errors.As(err, &te) {
				t.Fatalf("error %v is not a *locking.TagError", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, c.typ) || !strings.Contains(msg, `"`+c.word) {
				t.Fatalf("error %q does not name type %s and word %q", msg, c.typ, c.word)
			}
		})
	}
}

type SecondsTimeoutCommand struct {
	mediator.Command[mediator.Unit]
	locking.DistributedLock `lock:" prefix = jobs , timeout = 15 , throw = false "`
}

func TestTagAcceptsWholeSecondsAndSpaces(t *testing.T) {
	fake := newFake()
	m := build(t, fake.option(),
		locking.WithDistributedLocking[SecondsTimeoutCommand, mediator.Unit](),
		mediator.WithHandler[SecondsTimeoutCommand, mediator.Unit](func(context.Context, SecondsTimeoutCommand) (mediator.Unit, error) {
			return mediator.Unit{}, nil
		}))
	if _, err := mediator.Send(context.Background(), m, SecondsTimeoutCommand{}); err != nil {
		t.Fatal(err)
	}
	if got := fake.timeouts["jobs"]; got != 15e9 {
		t.Fatalf("timeout for key jobs = %v, want 15s", got)
	}
}
