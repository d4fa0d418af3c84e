package base

// Keys are the Redis names used for one lock key. The user's key is wrapped
// in a cluster hash tag so that the three land in one slot, which a Lua
// script touching the lock and its fence counter requires:
//
//	lock:    <prefix>{<key>}          the owner's value, with the lease as TTL
//	fence:   <prefix>{<key>}:fence    the fencing counter; expires TTL + FenceRetention after the grant that made it
//	channel: <prefix>{<key>}:released where a release is announced
type Keys struct {
	Lock, Fence, Channel string
}

// NewKeys returns the names of key's lock, fence counter and channel under
// prefix.
func NewKeys(prefix, key string) Keys {
	// One allocation holds the three: "<lock>:fence<lock>:released", of
	// which the fence and the channel are substrings.
	tag := escapeTag(key)
	n := len(prefix) + len(tag) + 2
	all := prefix + "{" + tag + "}:fence" + prefix + "{" + tag + "}:released"
	return Keys{Lock: all[:n], Fence: all[:n+len(":fence")], Channel: all[n+len(":fence"):]}
}

// escapeTag keeps the hash tag non-empty: Redis Cluster hashes a key whose
// tag is empty ("{}" or "{}...") as a whole, which would put the lock and its
// counter in different slots. A key that is empty or starts with '}' (or with
// the escape '~' itself, so that the mapping stays one-to-one) gets a '~'.
func escapeTag(key string) string {
	if key == "" || key[0] == '}' || key[0] == '~' {
		return "~" + key
	}
	return key
}
