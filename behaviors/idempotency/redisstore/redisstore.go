// Package redisstore is an idempotency.Store in Redis, shared by every
// instance of an application: a retry that lands on another instance than
// the first request finds its record there. Each key is one Redis hash that
// expires by itself (the claim's lease, then the answer's TTL), and every
// step is one Lua script on that one key, so it works on a Redis Cluster
// too.
package redisstore

import (
	"context"
	"errors"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/turbomediator/turbomediator-go/behaviors/idempotency"
)

// DefaultKeyPrefix is put before every key the store writes.
const DefaultKeyPrefix = "turbo:idem:"

// Scripter is the part of a go-redis client the store uses; every
// go-redis client (standalone, cluster, sentinel) is one.
type Scripter interface {
	goredis.Scripter
	Ping(ctx context.Context) *goredis.StatusCmd
}

// Options configure the store; nil or the zero value means the defaults.
type Options struct {
	// KeyPrefix is put before every key; default "turbo:idem:".
	KeyPrefix string
}

// Store is an idempotency.Store in Redis. It does not close the client.
type Store struct {
	client Scripter
	prefix string
}

var _ idempotency.Store = (*Store)(nil)

// New returns a store on client. opts may be nil.
func New(client Scripter, opts *Options) *Store {
	s := &Store{client: client, prefix: DefaultKeyPrefix}
	if opts != nil && opts.KeyPrefix != "" {
		s.prefix = opts.KeyPrefix
	}
	return s
}

// claimScript: KEYS[1] the record; ARGV fingerprint, token, lease in ms.
// Returns {0, fp, token, done, response} for an existing record, {1} when
// it claimed the key.
var claimScript = goredis.NewScript(`
local r = redis.call('HMGET', KEYS[1], 'fp', 'token', 'done', 'resp')
if r[1] then
  return {0, r[1], r[2] or '', r[3] or '0', r[4] or ''}
end
redis.call('HSET', KEYS[1], 'fp', ARGV[1], 'token', ARGV[2], 'done', '0')
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {1}
`)

// completeScript: KEYS[1] the record; ARGV token, response, ttl in ms.
var completeScript = goredis.NewScript(`
if redis.call('HGET', KEYS[1], 'token') == ARGV[1] and redis.call('HGET', KEYS[1], 'done') == '0' then
  redis.call('HSET', KEYS[1], 'done', '1', 'resp', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 1
end
return 0
`)

// releaseScript: KEYS[1] the record; ARGV token.
var releaseScript = goredis.NewScript(`
if redis.call('HGET', KEYS[1], 'token') == ARGV[1] and redis.call('HGET', KEYS[1], 'done') == '0' then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

func ms(d time.Duration) string { return strconv.FormatInt(max(d.Milliseconds(), 1), 10) }

// Claim implements idempotency.Store.
func (s *Store) Claim(ctx context.Context, key string, claim idempotency.Record, lease time.Duration) (idempotency.Record, bool, error) {
	res, err := claimScript.Run(ctx, s.client, []string{s.prefix + key}, claim.Fingerprint, claim.Token, ms(lease)).Slice()
	if err != nil {
		return idempotency.Record{}, false, err
	}
	if n, _ := res[0].(int64); n == 1 {
		return idempotency.Record{}, true, nil
	}
	if len(res) != 5 {
		return idempotency.Record{}, false, errors.New("redisstore: unexpected claim reply")
	}
	str := func(v any) string { s, _ := v.(string); return s }
	return idempotency.Record{
		Fingerprint: str(res[1]),
		Token:       str(res[2]),
		Done:        str(res[3]) == "1",
		Response:    []byte(str(res[4])),
	}, false, nil
}

// Complete implements idempotency.Store.
func (s *Store) Complete(ctx context.Context, key, token string, response []byte, ttl time.Duration) error {
	return completeScript.Run(ctx, s.client, []string{s.prefix + key}, token, response, ms(ttl)).Err()
}

// Release implements idempotency.Store.
func (s *Store) Release(ctx context.Context, key, token string) error {
	return releaseScript.Run(ctx, s.client, []string{s.prefix + key}, token).Err()
}

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error { return s.client.Ping(ctx).Err() }

// Key is the Redis key of an idempotency key, for inspection in tests and
// operations.
func (s *Store) Key(key string) string { return s.prefix + key }
