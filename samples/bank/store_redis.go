package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisStore keeps accounts in Redis so that several instances of the sample
// share them. Each account is a hash {owner, balance, fence} under
// "<prefix>account:<id>"; "<prefix>accounts" is a sorted set of the ids (all
// with score 0, so in id order) for List. "<prefix>applied:<key>" is the
// record of the request with idempotency key <key>, with a TTL.
//
// Balances are read with HGETALL and written back by a Lua script after the
// handler has changed them in Go: the script refuses a write whose fencing
// token is older than the one stored with the balance, and writes the
// applied record in the same step.
//
// A transfer's script touches two accounts' keys at once, which a Redis
// Cluster refuses unless they share a hash slot: NewRedisStore refuses a
// cluster rather than fail every such call at run time.
type RedisStore struct {
	client redis.UniversalClient
	prefix string
	ids    idGenerator
}

// saveScript applies every write or none. KEYS are the account hashes, then
// the applied record's key (or "" for none); ARGV holds, per account, its
// fence then its new balance, then the record and its TTL in ms. A fence of
// 0 is an unlocked write: it is not checked and leaves the stored fence
// alone. Returns {"ok"}, {"missing", i} or {"stale", i, stored fence}.
var saveScript = redis.NewScript(`
local n = #KEYS - 1
for i = 1, n do
  if redis.call('EXISTS', KEYS[i]) == 0 then
    return {'missing', i}
  end
  local fence = tonumber(ARGV[2*i-1])
  local stored = tonumber(redis.call('HGET', KEYS[i], 'fence') or '0')
  if fence > 0 and fence < stored then
    return {'stale', i, tostring(stored)}
  end
end
for i = 1, n do
  redis.call('HSET', KEYS[i], 'balance', ARGV[2*i])
  if tonumber(ARGV[2*i-1]) > 0 then
    redis.call('HSET', KEYS[i], 'fence', ARGV[2*i-1])
  end
end
if KEYS[n+1] ~= '' then
  redis.call('SET', KEYS[n+1], ARGV[2*n+1], 'PX', ARGV[2*n+2])
end
return {'ok'}
`)

// ErrClusterStore is returned by NewRedisStore for an address that is a
// Redis Cluster.
var ErrClusterStore = errors.New("the account store needs a single Redis, not a Redis Cluster: a transfer writes two accounts in one script, which a cluster refuses across hash slots; keep the accounts on a standalone Redis with -redis and put the locks on the cluster with -lock-redis")

// storeProbeTimeout bounds the start-up checks of NewRedisStore.
const storeProbeTimeout = 5 * time.Second

// NewRedisStore connects to addr: "host:port" or a redis:// URL. Keys are
// prefixed with "bank:". It checks that Redis answers and is not a cluster
// node: several comma-separated addresses, or a server with cluster mode
// on, fail with ErrClusterStore.
func NewRedisStore(addr string) (*RedisStore, error) {
	client, err := newRedisClient(addr)
	if err != nil {
		return nil, err
	}
	s := &RedisStore{client: client, prefix: "bank:"}
	ctx, cancel := context.WithTimeout(context.Background(), storeProbeTimeout)
	defer cancel()
	info, err := client.Info(ctx, "cluster").Result()
	if err != nil {
		return nil, errors.Join(fmt.Errorf("redis %s: %w", addr, unavailable(err)), client.Close())
	}
	if strings.Contains(info, "cluster_enabled:1") {
		return nil, errors.Join(fmt.Errorf("redis %s: %w", addr, ErrClusterStore), client.Close())
	}
	return s, nil
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
	if strings.Contains(addr, ",") {
		return nil, fmt.Errorf("redis address %q: %w", addr, ErrClusterStore)
	}
	return redis.NewClient(&redis.Options{
		Addr: strings.TrimSpace(addr), PoolSize: poolSize, MaxRetries: maxRetries, DialerRetries: dialerRetries,
	}), nil
}

func (s *RedisStore) accountKey(id string) string  { return s.prefix + "account:" + id }
func (s *RedisStore) appliedKey(key string) string { return s.prefix + "applied:" + key }

func unavailable(err error) error { return fmt.Errorf("%w: %w", ErrStoreUnavailable, err) }

// createScript: KEYS the account hash, the id set, the applied record (or
// ""); ARGV id, owner, balance, the record and its TTL in ms.
var createScript = redis.NewScript(`
redis.call('HSET', KEYS[1], 'owner', ARGV[2], 'balance', ARGV[3], 'fence', 0)
redis.call('ZADD', KEYS[2], 0, ARGV[1])
if KEYS[3] ~= '' then
  redis.call('SET', KEYS[3], ARGV[4], 'PX', ARGV[5])
end
return 1
`)

// Create implements Store.
func (s *RedisStore) Create(ctx context.Context, owner string, balance int64, applied *Applied) (Account, error) {
	a := Account{ID: s.ids.next(time.Now()), Owner: owner, Balance: balance}
	rec, recKey, ttl := "", "", "1"
	if applied != nil {
		r := *applied
		r.Response = mustJSON(a)
		rec, recKey, ttl = encodeApplied(r), s.appliedKey(r.Key), pxOf(r.TTL)
	}
	keys := []string{s.accountKey(a.ID), s.prefix + "accounts", recKey}
	if err := createScript.Run(ctx, s.client, keys, a.ID, owner, balance, rec, ttl).Err(); err != nil {
		return Account{}, unavailable(err)
	}
	return a, nil
}

func pxOf(d time.Duration) string { return strconv.FormatInt(max(d.Milliseconds(), 1), 10) }

// encodeApplied is the stored form of a record: the request, a newline,
// the response.
func encodeApplied(r Applied) string { return r.Request + "\n" + string(r.Response) }

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
func (s *RedisStore) List(ctx context.Context, after string, limit int) ([]Account, error) {
	start := "-"
	if after != "" {
		start = "(" + after
	}
	ids, err := s.client.ZRangeArgs(ctx, redis.ZRangeArgs{
		Key: s.prefix + "accounts", Start: start, Stop: "+", ByLex: true, Count: int64(limit),
	}).Result()
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
func (s *RedisStore) Save(ctx context.Context, applied *Applied, writes ...Write) error {
	keys := make([]string, len(writes), len(writes)+1)
	args := make([]any, 0, 2*len(writes)+2)
	for i, w := range writes {
		keys[i] = s.accountKey(w.AccountID)
		args = append(args, strconv.FormatUint(w.Fence, 10), strconv.FormatInt(w.Balance, 10))
	}
	if applied != nil {
		keys = append(keys, s.appliedKey(applied.Key))
		args = append(args, encodeApplied(*applied), pxOf(applied.TTL))
	} else {
		keys = append(keys, "")
		args = append(args, "", "1")
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

// Load implements Store with one pipeline.
func (s *RedisStore) Load(ctx context.Context, key string, ids ...string) ([]Account, *Applied, error) {
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	var rec *redis.StringCmd
	_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, s.accountKey(id))
		}
		if key != "" {
			rec = p.Get(ctx, s.appliedKey(key))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, nil, unavailable(err)
	}
	out := make([]Account, len(ids))
	for i, id := range ids {
		if out[i], err = parseAccount(id, cmds[i].Val()); err != nil {
			return nil, nil, err
		}
	}
	if rec == nil || rec.Err() != nil {
		return out, nil, nil // redis.Nil: no record
	}
	req, resp, _ := strings.Cut(rec.Val(), "\n")
	return out, &Applied{Key: key, Request: req, Response: []byte(resp)}, nil
}

// Ping implements Store.
func (s *RedisStore) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// Close implements Store.
func (s *RedisStore) Close() error { return s.client.Close() }
