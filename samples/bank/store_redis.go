package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// RedisStore keeps accounts in Redis so that several instances of the sample
// share them. Each account is a hash {owner, balance, fence} under
// "<prefix>account:<id>"; "<prefix>accounts" is a sorted set of the ids for
// List, and "<prefix>next-id" the id counter.
//
// Balances are read with HGETALL and written back by a Lua script after the
// handler has changed them in Go: the script refuses a write whose fencing
// token is older than the one stored with the balance.
type RedisStore struct {
	client redis.UniversalClient
	prefix string
}

// saveScript applies every write or none. KEYS are the account hashes;
// ARGV holds, per key, its fence then its new balance. A fence of 0 is an
// unlocked write: it is not checked and leaves the stored fence alone.
// Returns {"ok"}, {"missing", i} or {"stale", i, stored fence}.
var saveScript = redis.NewScript(`
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 0 then
    return {'missing', i}
  end
  local fence = tonumber(ARGV[2*i-1])
  local stored = tonumber(redis.call('HGET', KEYS[i], 'fence') or '0')
  if fence > 0 and fence < stored then
    return {'stale', i, tostring(stored)}
  end
end
for i = 1, #KEYS do
  redis.call('HSET', KEYS[i], 'balance', ARGV[2*i])
  if tonumber(ARGV[2*i-1]) > 0 then
    redis.call('HSET', KEYS[i], 'fence', ARGV[2*i-1])
  end
end
return {'ok'}
`)

// NewRedisStore connects to addr: "host:port", a redis:// URL, or several
// comma-separated host:port addresses (a cluster or sentinel set). Keys are
// prefixed with "bank:".
func NewRedisStore(addr string) (*RedisStore, error) {
	client, err := newRedisClient(addr)
	if err != nil {
		return nil, err
	}
	return &RedisStore{client: client, prefix: "bank:"}, nil
}

// Client settings. A large pool, since with -no-lock every request reads and
// writes at once; few retries, so that with Redis down a request gets its
// 503 in milliseconds rather than after seconds of redialling.
const (
	poolSize      = 128
	maxRetries    = 1
	dialerRetries = 1
)

func newRedisClient(addr string) (redis.UniversalClient, error) {
	if strings.Contains(addr, "://") {
		opts, err := redis.ParseURL(addr)
		if err != nil {
			return nil, fmt.Errorf("redis address %q: %w", addr, err)
		}
		opts.PoolSize, opts.MaxRetries, opts.DialerRetries = poolSize, maxRetries, dialerRetries
		return redis.NewClient(opts), nil
	}
	addrs := strings.Split(addr, ",")
	for i := range addrs {
		addrs[i] = strings.TrimSpace(addrs[i])
	}
	return redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs: addrs, PoolSize: poolSize, MaxRetries: maxRetries, DialerRetries: dialerRetries,
	}), nil
}

func (s *RedisStore) accountKey(id string) string { return s.prefix + "account:" + id }

func unavailable(err error) error { return fmt.Errorf("%w: %w", ErrStoreUnavailable, err) }

// Create implements Store.
func (s *RedisStore) Create(ctx context.Context, owner string, balance int64) (Account, error) {
	n, err := s.client.Incr(ctx, s.prefix+"next-id").Result()
	if err != nil {
		return Account{}, unavailable(err)
	}
	a := Account{ID: strconv.FormatInt(n, 10), Owner: owner, Balance: balance}
	_, err = s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, s.accountKey(a.ID), "owner", owner, "balance", balance, "fence", 0)
		p.ZAdd(ctx, s.prefix+"accounts", redis.Z{Score: float64(n), Member: a.ID})
		return nil
	})
	if err != nil {
		return Account{}, unavailable(err)
	}
	return a, nil
}

// Get implements Store.
func (s *RedisStore) Get(ctx context.Context, id string) (Account, error) {
	fields, err := s.client.HGetAll(ctx, s.accountKey(id)).Result()
	if err != nil {
		return Account{}, unavailable(err)
	}
	return parseAccount(id, fields)
}

func parseAccount(id string, fields map[string]string) (Account, error) {
	if len(fields) == 0 {
		return Account{}, fmt.Errorf("%w: %s", ErrAccountNotFound, id)
	}
	balance, err := strconv.ParseInt(fields["balance"], 10, 64)
	if err != nil {
		return Account{}, fmt.Errorf("account %q: stored balance %q: %w", id, fields["balance"], err)
	}
	return Account{ID: id, Owner: fields["owner"], Balance: balance}, nil
}

// List implements Store.
func (s *RedisStore) List(ctx context.Context) ([]Account, error) {
	ids, err := s.client.ZRange(ctx, s.prefix+"accounts", 0, -1).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	_, err = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, s.accountKey(id))
		}
		return nil
	})
	if err != nil {
		return nil, unavailable(err)
	}
	out := make([]Account, 0, len(ids))
	for i, id := range ids {
		a, err := parseAccount(id, cmds[i].Val())
		if errors.Is(err, ErrAccountNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// Save implements Store with saveScript, so the check and the writes are one
// atomic step on the server.
func (s *RedisStore) Save(ctx context.Context, writes ...Write) error {
	keys := make([]string, len(writes))
	args := make([]any, 0, 2*len(writes))
	for i, w := range writes {
		keys[i] = s.accountKey(w.AccountID)
		args = append(args, strconv.FormatUint(w.Fence, 10), strconv.FormatInt(w.Balance, 10))
	}
	res, err := saveScript.Run(ctx, s.client, keys, args...).Slice()
	if err != nil {
		return unavailable(err)
	}
	status, _ := res[0].(string)
	switch status {
	case "ok":
		return nil
	case "missing":
		w := writes[res[1].(int64)-1]
		return fmt.Errorf("%w: %s", ErrAccountNotFound, w.AccountID)
	case "stale":
		w := writes[res[1].(int64)-1]
		return fmt.Errorf("account %q, token %d < %v: %w", w.AccountID, w.Fence, res[2], ErrStaleWrite)
	}
	return fmt.Errorf("save script answered %v", res)
}

// Close implements Store.
func (s *RedisStore) Close() error { return s.client.Close() }
