package redis_test

import (
	"strconv"
	"testing"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/internal/redistest"
	"github.com/turbomediator/turbomediator-go/mediator"
	redislocks "github.com/turbomediator/turbomediator-go/providers/redis"
)

// TestAMasterNameAddressLocksThroughSentinel registers the provider with
// "master:NAME,sentinel": the client asks the Sentinel where the master is,
// and the locks land on that master.
func TestAMasterNameAddressLocksThroughSentinel(t *testing.T) {
	noLeaks(t)
	master := redistest.Start(t)
	sentinel := redistest.StartSentinel(t, "mymaster", master)
	ctx := ctxT(t)
	m := build(t,
		redislocks.WithRedisDistributedLocking("master:mymaster,"+sentinel.Addr()),
		locking.WithDistributedLocking[withdraw, uint64](),
		mediator.WithHandler[withdraw, uint64](tokenHandler),
	)
	for want := uint64(1); want <= 3; want++ {
		if tok, err := mediator.Send(ctx, m, withdraw{Account: "7"}); err != nil || tok != want {
			t.Fatalf("Send = %d, %v; want token %d", tok, err, want)
		}
	}
	_, fence := providerOf(t, m).StorageKeys("withdraw:7")
	if got, err := redistest.Command(master.Addr(), "GET", fence); err != nil || got != strconv.Itoa(3) {
		t.Fatalf("the master's %s = %q, %v; want 3", fence, got, err)
	}
}
