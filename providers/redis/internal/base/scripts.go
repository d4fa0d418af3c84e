package base

import goredis "github.com/redis/go-redis/v9"

// AcquireScript grants the lock and issues its fencing token in one atomic
// step, so no other grant can come between the two.
//
// KEYS: lock, fence. ARGV: owner, ttl in ms, fence ttl in ms (TTL +
// FenceRetention).
// Returns the token (>= 1) when granted. When the lock is held by someone
// else it returns -2 - the remaining lease in ms (<= -2), which tells a
// waiter when an abandoned lease will run out, or -1 when the key has no
// expiry (not one of ours).
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
var AcquireScript = goredis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
	local token = redis.call('INCR', KEYS[2])
	if token == 1 then
		local t = redis.call('TIME')
		token = tonumber(t[1]) * 1000000 + tonumber(t[2])
		redis.call('SET', KEYS[2], string.format('%d', token), 'PX', ARGV[3])
	end
	return token
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
	redis.call('PEXPIRE', KEYS[1], ARGV[2])
	return tonumber(redis.call('GET', KEYS[2]))
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then return -1 end
return -2 - ttl
`)

// ReleaseScript deletes the lock only if the caller owns it and then
// announces the release on the key's channel, with the owner as payload (a
// provider ignores its own announcements: it wakes its local waiters
// directly).
//
// KEYS: lock. ARGV: owner, channel. Returns 1 when released, 0 when the lock
// was no longer the caller's.
var ReleaseScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	redis.call('DEL', KEYS[1])
	redis.call('PUBLISH', ARGV[2], ARGV[1])
	return 1
end
return 0
`)
