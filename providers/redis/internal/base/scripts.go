package base

import (
	"fmt"

	goredis "github.com/redis/go-redis/v9"

	"github.com/turbomediator/turbomediator-go/providers/redis/internal/lockvalue"
)

// AcquireScript grants the lock and issues its fencing token in one atomic
// step, so no other grant can come between the two, and records who holds
// it in the lock's value (see package lockvalue).
//
// KEYS: lock, fence. ARGV: owner (the client's part of the value: owner id
// and holder, each followed by '|'), ttl in ms, fence ttl in ms (TTL +
// FenceRetention), the client's clock in µs ([NowArg], written as the call
// is sent).
// The value stored is the owner followed by the clock. Returns the token
// (>= 1) when granted. When the lock is held by someone else it returns
// {-2 - the remaining lease in ms (<= -2), the holder's value}: the lease
// tells a waiter when an abandoned lease will run out, the value who holds
// it (the script reads it anyway; see [AcquireReply]). It returns -1 when
// the key has no expiry (not one of ours). A refused call also marks the
// holder's value as waited for (a '*' appended, once; see [ReleaseScript]):
// whoever is refused may wait for the release's announcement, and only a
// marked value's release makes one.
//
// The token comes from the key's fence counter: INCR while the counter
// exists; when it does not (never made, or expired), the server's clock in
// microseconds (TIME), stored as the new counter with an expiry of the
// fence ttl. So a key leaves nothing behind for good, and tokens still grow
// once the counter is gone: it expired by that same clock, a fence ttl
// after it was made, and the tokens drawn from it since are that clock
// reading plus the number of grants, which cannot outrun the microseconds
// (a grant is a script call of several). docs/fencing.md says what this
// rests on. Counters and clock values stay below 2^53, where Lua's numbers
// are exact; string.format('%d') writes them without the exponent that
// Lua's default formatting would use.
//
// Asking again with the same owner (a client retrying after a lost reply)
// returns the token already issued instead of failing, so retries are safe.
// The owner is compared as a prefix of the stored value: it ends with '|',
// so no other owner's value starts with it.
var AcquireScript = goredis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1] .. ARGV[4], 'NX', 'PX', ARGV[2]) then
	local token = redis.call('INCR', KEYS[2])
	if token == 1 then
		local t = redis.call('TIME')
		token = tonumber(t[1]) * 1000000 + tonumber(t[2])
		redis.call('SET', KEYS[2], string.format('%d', token), 'PX', ARGV[3])
	end
	return token
end
local v = redis.call('GET', KEYS[1])
if string.sub(v, 1, #ARGV[1]) == ARGV[1] then
	redis.call('PEXPIRE', KEYS[1], ARGV[2])
	return tonumber(redis.call('GET', KEYS[2]))
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then return -1 end
if string.sub(v, -1) ~= '*' then redis.call('APPEND', KEYS[1], '*') end
return {-2 - ttl, v}
`)

// NowArg is lockvalue.Now, boxed once: the scripts' argument that go-redis
// writes as the client's clock when it sends the call.
var NowArg any = lockvalue.Now{}

// AcquireReply reads [AcquireScript]'s reply: the token, -1, or, when the
// key is taken, -2 - the remaining lease in ms with the holder's value.
func AcquireReply(reply any) (n int64, holder string, err error) {
	switch v := reply.(type) {
	case int64:
		return v, "", nil
	case []any:
		if len(v) == 2 {
			n, ok1 := v[0].(int64)
			holder, ok2 := v[1].(string)
			if ok1 && ok2 {
				return n, holder, nil
			}
		}
	}
	return 0, "", fmt.Errorf("redis: unexpected acquire reply %v", reply)
}

// ReleaseScript deletes the lock only if the caller owns it and then, when
// the value is marked as waited for (see [AcquireScript]), announces the
// release on the key's channel, with the owner as payload (a provider
// ignores its own announcements: it wakes its local waiters directly). A
// lock nobody was refused while it was held has nobody to tell: its release
// skips the PUBLISH, which costs Redis about a third of the script.
//
// KEYS: lock. ARGV: owner (the client's part of the value, compared as a
// prefix), channel. Returns 1 when released, 0 when the lock was no longer
// the caller's.
var ReleaseScript = goredis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, #ARGV[1]) == ARGV[1] then
	redis.call('DEL', KEYS[1])
	if string.sub(v, -1) == '*' then redis.call('PUBLISH', ARGV[2], ARGV[1]) end
	return 1
end
return 0
`)
