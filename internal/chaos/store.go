package chaos

import (
	"context"
	"fmt"

	goredis "github.com/redis/go-redis/v9"
)

// FencedStore is the resource the locks protect: one integer in a Redis that
// no fault reaches, written only with a fencing token. A write whose token is
// smaller than the largest token the store has accepted is refused, as a
// stale holder's must be. Every decision gets a sequence number, the order
// in which the store took it, so a checker can replay them.
type FencedStore struct {
	client              StoreClient
	value, fence, order string
}

// StoreClient is the part of a go-redis client the store uses.
type StoreClient interface {
	goredis.Scripter
	Get(ctx context.Context, key string) *goredis.StringCmd
}

// NewFencedStore returns the store named name on client.
func NewFencedStore(client StoreClient, name string) *FencedStore {
	return &FencedStore{client: client, value: name + ":value", fence: name + ":fence", order: name + ":seq"}
}

// fencedWrite decides and numbers a write in one atomic step.
//
// KEYS: value, fence, seq. ARGV: token, value.
// Returns {seq, 1} when accepted, {seq, 0} when refused.
var fencedWrite = goredis.NewScript(`
local seq = redis.call('INCR', KEYS[3])
local best = tonumber(redis.call('GET', KEYS[2]) or '0')
if tonumber(ARGV[1]) < best then return {seq, 0} end
redis.call('SET', KEYS[2], ARGV[1])
redis.call('SET', KEYS[1], ARGV[2])
return {seq, 1}
`)

// Read returns the stored value (0 before the first write).
func (s *FencedStore) Read(ctx context.Context) (int64, error) {
	v, err := s.client.Get(ctx, s.value).Int64()
	if err == goredis.Nil {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("chaos: reading the store: %w", err)
	}
	return v, nil
}

// Write stores value if token is at least the largest token accepted so
// far. It returns the decision's sequence number and whether it accepted.
func (s *FencedStore) Write(ctx context.Context, token uint64, value int64) (seq int64, accepted bool, err error) {
	res, err := fencedWrite.Run(ctx, s.client, []string{s.value, s.fence, s.order}, token, value).Int64Slice()
	if err != nil {
		return 0, false, fmt.Errorf("chaos: fenced write: %w", err)
	}
	return res[0], res[1] == 1, nil
}
