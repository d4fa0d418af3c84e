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

// ReuseListBytes is the most memory the shards' reuse lists of p keep after
// every key is released: a bounded, fixed cost, not a leak.
func ReuseListBytes(p *Provider) int64 {
	return int64(len(p.shards)) * maxFree * int64(unsafe.Sizeof(keyState{}))
}
