package redis

import goredis "github.com/redis/go-redis/v9"

// extendScript renews the lease only while the caller still owns it.
//
// KEYS: lock. ARGV: the client's part of the value (the owner, compared as
// a prefix), ttl in ms. Returns 1 when extended, 0 when the lock is no
// longer the caller's.
var extendScript = goredis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, #ARGV[1]) == ARGV[1] then
	return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`)

// releaseHandOnScript is the release of a provider whose goroutine waits
// for the key at the head of its local queue: instead of freeing the key it
// grants it, in the same step, to that waiter's owner value with a new
// fencing token (drawn as base.AcquireScript draws it) — when no other provider
// subscribes to the key's channel (so nobody else waits), or when the lock
// being released was not itself handed on. Otherwise it releases as
// base.ReleaseScript does and announces it. Within one process a lock so passes
// from holder to waiter in one call, and among several processes every
// other grant is open to all of them.
//
// KEYS: lock, fence. ARGV: owner, channel, next owner (the client's part of
// its value), ttl in ms, fence ttl in ms, "1" when the lock being released
// was handed on, the client's clock in µs (base.NowArg, completing the next
// owner's value as in base.AcquireScript).
// A lock handed on keeps the mark of a value waited for (see
// base.AcquireScript): those refused before still wait for its release.
// Returns 0 when the lock was no longer the caller's, 1 when released, or
// the next owner's token (> 1) when handed on.
var releaseHandOnScript = goredis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v or string.sub(v, 1, #ARGV[1]) ~= ARGV[1] then return 0 end
if ARGV[6] ~= '1' or redis.call('PUBSUB', 'NUMSUB', ARGV[2])[2] <= 1 then
	local mark = ''
	if string.sub(v, -1) == '*' then mark = '*' end
	redis.call('SET', KEYS[1], ARGV[3] .. ARGV[7] .. mark, 'PX', ARGV[4])
	local token = redis.call('INCR', KEYS[2])
	if token == 1 then
		local t = redis.call('TIME')
		token = tonumber(t[1]) * 1000000 + tonumber(t[2])
		redis.call('SET', KEYS[2], string.format('%d', token), 'PX', ARGV[5])
	end
	return token
end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[2], ARGV[1])
return 1
`)
