package redis_test

import (
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	redislocks "github.com/turbomediator/turbomediator-go/providers/redis"
	"github.com/turbomediator/turbomediator-go/providers/redis/internal/redistesting"
)

// saveBalance is docs/fencing.md's guard: it writes only if the token is not
// older than the fence stored with the account.
var saveBalance = goredis.NewScript(`
local stored = tonumber(redis.call('HGET', KEYS[1], 'fence') or '0')
if tonumber(ARGV[2]) < stored then
	return 0
end
redis.call('HSET', KEYS[1], 'balance', ARGV[1], 'fence', ARGV[2])
return 1
`)

// TestAStaleHoldersFencedWriteIsRefused plays docs/fencing.md's table: A's
// lease runs out while A is stuck (its extensions cannot reach Redis), B
// takes the lock and writes, then A's late write is refused by its token.
func TestAStaleHoldersFencedWriteIsRefused(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	rdb := newClient(t, srv.Addr())
	proxy := redistesting.NewProxy(t, srv.Addr())
	opts := &redislocks.Options{TTL: 300 * time.Millisecond, RefreshInterval: 100 * time.Millisecond}
	a := newProvider(t, proxy.Listen, opts) // A reaches Redis through a link we can cut
	b := newProvider(t, srv.Addr(), opts)
	ctx := ctxT(t)
	rdb.HSet(ctx, "account:42", "balance", 100, "fence", 0)

	ha, err := a.TryAcquire(ctx, "account:42", 0)
	if err != nil {
		t.Fatal(err)
	}
	balanceA, _ := rdb.HGet(ctx, "account:42", "balance").Int64()
	proxy.Stop() // A is cut off: its lease runs out
	<-ha.Lost()

	hb, err := b.TryAcquire(ctx, "account:42", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if hb.Token() <= ha.Token() {
		t.Fatalf("B's token %d is not above A's %d", hb.Token(), ha.Token())
	}
	if ok, _ := saveBalance.Run(ctx, rdb, []string{"account:42"}, 70, hb.Token()).Int(); ok != 1 {
		t.Fatal("the current holder's write was refused")
	}
	hb.Release(ctx)

	// A comes back and finishes its write with its old token.
	if ok, _ := saveBalance.Run(ctx, rdb, []string{"account:42"}, balanceA-10, ha.Token()).Int(); ok != 0 {
		t.Fatal("the stale holder's write was accepted")
	}
	if got, _ := rdb.HGet(ctx, "account:42", "balance").Int(); got != 70 {
		t.Fatalf("balance = %d, want B's 70", got)
	}
}
