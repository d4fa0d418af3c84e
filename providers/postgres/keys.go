package postgres

import (
	"crypto/sha256"
	"encoding/binary"
)

// LockID returns the advisory lock id of key under prefix: the first 8 bytes
// of SHA-256(prefix + key), big-endian, as a signed bigint. In SQL the same
// id is
//
//	('x' || left(encode(sha256(convert_to(prefix || key, 'UTF8')), 'hex'), 16))::bit(64)::bigint
//
// so an operator can find a key's lock in pg_locks (objid and classid hold
// the id's low and high 32 bits).
//
// Two keys with the same id would share one lock: each still excludes its
// own holders (never less safety), at worst they wait for each other. With a
// 64-bit hash the chance that any two of n keys in use at once collide is
// about n²/2⁶⁵ — 3·10⁻⁸ for a million. Fencing tokens are not affected: they
// come from one sequence, so they grow per key whatever the ids.
func LockID(prefix, key string) int64 {
	var buf [128]byte // most keys fit: no allocation
	sum := sha256.Sum256(append(append(buf[:0], prefix...), key...))
	return int64(binary.BigEndian.Uint64(sum[:8]))
}
