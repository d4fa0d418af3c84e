// Package wait is the waiting machinery of the Redis and Redlock providers.
//
// [LocalQueues] keep a provider's goroutines that want a key in arrival
// order and let only the head talk to Redis; a Release of the same provider
// may hand the head its lock ([LocalQueues.ClaimHead], [Handoff]).
//
// [Waiters] is a provider's subscription to the release announcements of
// the keys its goroutines wait for, on one Redis (a Redlock provider has one
// per node): one connection shared by all of them, kept healthy by pings
// and replaced when it dies silently; an announcement wakes the key's head.
package wait
