package locking_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
)

// Messages of DESIGN.md's key examples. Their handlers answer with the keys
// they hold, so a test sees the exact strings.

type RunDailyReportCommand struct {
	mediator.Command[[]string]
	locking.DistributedLock `lock:"timeout=60"`
}

type ApproveInvoiceCommand struct {
	mediator.Command[[]string]
	locking.DistributedLock `lock:"prefix=invoice"`
	TenantID, InvoiceID     string
}

func (c ApproveInvoiceCommand) LockKey() string { return c.TenantID + ":" + c.InvoiceID }

type accountID int

func (a accountID) String() string { return fmt.Sprintf("acc-%d", int(a)) }

type CompositeCommand struct {
	mediator.Command[[]string]
	locking.DistributedLock
	Tenant  string    `lock:"key"`
	Note    string    // not part of the key
	Seq     int64     `lock:"key"`
	Urgent  bool      `lock:"key"`
	Shard   uint8     `lock:"key"`
	Account accountID `lock:"key"`
}

type PointerCommand struct {
	mediator.Command[[]string]
	locking.DistributedLock `lock:"prefix=ptr"`
	ID                      int `lock:"key"`
}

type TransferKeysCommand struct {
	mediator.Command[[]string]
	locking.DistributedLock `lock:"prefix=account"`
	Accounts                []string
}

func (c TransferKeysCommand) LockKeys() []string { return c.Accounts }

// UntaggedCommand has no marker: only a registration can lock it.
type UntaggedCommand struct {
	mediator.Command[[]string]
	ID string
}

func (c UntaggedCommand) LockKey() string { return c.ID }

// heldKeys is the handler of every key-example message.
func heldKeys[Req any](ctx context.Context, _ Req) ([]string, error) {
	var keys []string
	for _, h := range locking.AllFromContext(ctx) {
		keys = append(keys, h.Key())
	}
	return keys, nil
}

func joined(keys []string) string { return strings.Join(keys, " ") }
