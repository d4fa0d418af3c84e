package memory

// OnQueued makes p call f(key) each time a waiter has joined key's queue, so
// tests can line waiters up in a known order without sleeping. Set it before
// p is used.
func OnQueued(p *Provider, f func(key string)) { p.queued = f }

// OnGivingUp makes p call f(key) when a waiter's timeout or context has ended,
// just before it looks whether it was granted meanwhile: a test releasing the
// holder from f makes the handoff and the give-up meet. Set it before p is
// used.
func OnGivingUp(p *Provider, f func(key string)) { p.givingUp = f }
