package memory

// OnQueued makes p call f(key) each time a waiter has joined key's queue, so
// tests can line waiters up in a known order without sleeping. Set it before
// p is used.
func OnQueued(p *Provider, f func(key string)) { p.queued = f }
