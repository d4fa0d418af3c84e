package memory

import "unsafe"

// OnQueued makes p call f(key) each time a waiter has joined key's queue, so
// tests can line waiters up in a known order without sleeping. Set it before
// p is used.
func OnQueued(p *Provider, f func(key string)) { p.queued = f }

// OnGivingUp makes p call f(key) when a waiter's timeout or context has ended,
// just before it looks whether it was granted meanwhile: a test releasing the
// holder from f makes the handoff and the give-up meet. Set it before p is
// used.
func OnGivingUp(p *Provider, f func(key string)) { p.givingUp = f }

// IdleBytes is the most memory the shards of p keep after every key is
// released, beside the shards themselves: their reuse lists and the emptied
// tables small enough to keep. A bounded, fixed cost, not a leak.
func IdleBytes(p *Provider) int64 {
	n := int64(len(p.shards))
	return n*int64(maxFreePerShard(len(p.shards)))*int64(unsafe.Sizeof(keyState{})) +
		n*dropSlots*int64(unsafe.Sizeof(slot{}))
}
