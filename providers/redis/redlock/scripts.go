package redlock

import goredis "github.com/redis/go-redis/v9"

// A Redlock grant on one node is the single-node base.AcquireScript: the lock and
// its fencing counter are set in one atomic step there too. The scripts
// below are what a majority of independent nodes needs on top of it. Every
// write of a fence counter gives it the fence ttl (TTL + FenceRetention), so
// a raised counter expires like a drawn one.

// redlockExtendScript renews the lease on one node and tells whether the
// caller held the key without a gap; a node that lost the key (it restarted,
// or the lease ran out there) is taken again when free, so that a restarted
// node rejoins the lease. Either way the node's fencing counter is raised to
// the token: a node that granted late, with a lower counter, catches up.
//
// KEYS: lock, fence. ARGV: owner, ttl in ms, token, fence ttl in ms.
// Returns 1 when extended (held throughout), 2 when taken again, 0 when
// another owner has the key.
var redlockExtendScript = goredis.NewScript(`
local held = redis.call('GET', KEYS[1]) == ARGV[1]
if held then
	redis.call('PEXPIRE', KEYS[1], ARGV[2])
elseif not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
	return 0
end
local f = tonumber(redis.call('GET', KEYS[2])) or 0
if f < tonumber(ARGV[3]) then redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4]) end
if held then return 1 end
return 2
`)

// redlockRaiseScript makes a node that granted the lock with a counter
// below the token store the token, while the caller still holds the key
// there. Once a majority stores the token, any later majority grant meets one
// of those nodes and draws a larger token.
//
// KEYS: lock, fence. ARGV: owner, token, fence ttl in ms.
// Returns 1 when the node stores at least the token, 0 when the caller no
// longer holds the key there.
var redlockRaiseScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local f = tonumber(redis.call('GET', KEYS[2])) or 0
if f < tonumber(ARGV[2]) then redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3]) end
return 1
`)

// redlockReleaseScript is the single-node release that also raises the
// node's fencing counter to the token, so that every node the lease reached
// leaves it at least at the token, whether or not it was one of the majority
// the token was agreed with. A node that missed grants thus catches up at the
// next release it takes part in.
//
// KEYS: lock, fence. ARGV: owner, channel, token, fence ttl in ms.
// Returns 1 when released, 0 when the lock was no longer the caller's.
var redlockReleaseScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
local f = tonumber(redis.call('GET', KEYS[2])) or 0
if f < tonumber(ARGV[3]) then redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4]) end
redis.call('PUBLISH', ARGV[2], ARGV[1])
return 1
`)
