// Package etcd is a lock provider for the locking behavior on etcd
// (go.etcd.io/etcd/client/v3): locks that exclude every process using the
// same etcd cluster, held in etcd's replicated, linearizable store, with a
// fencing token that is the lock entry's create revision.
//
// # Registering
//
//	etcd.WithEtcdDistributedLocking("http://10.0.0.1:2379", "http://10.0.0.2:2379")
//	etcd.WithEtcdDistributedLockingOptions(etcd.Options{Endpoints: eps, TTL: 10 * time.Second})
//	etcd.WithEtcdDistributedLockingFromDI() // on the *clientv3.Client the app provided
//
// This package is a Go module of its own, so applications that do not use
// etcd do not get etcd's or gRPC's modules in their build.
//
// # How a lock works
//
// The provider holds one session: an etcd lease of Options.TTL, kept alive
// from one goroutine while the provider is open. A provider's callers for
// one key line up in the provider, first come first served; the first of
// the line creates, in one transaction, an entry
// KeyPrefix/<escaped key>/<lease>-<slot> attached to the lease and reads the
// queue's oldest entry. If that is its own, it holds the lock; otherwise it
// watches the entry just before its own and looks again when that is
// deleted — no polling, and providers are served in creation order across
// processes. Once granted, it lets the next of its line enqueue. Release
// deletes the entry, and the slot is reused by the next acquisition, so
// etcd sees the same few keys written again and again. A process that dies
// or stops renewing loses its entries when etcd expires the lease.
//
// Each entry's value records who asked (Options.Instance and the
// locking.Acquirer of the context); [Provider.Inspect] reads it back.
//
// Why not concurrency.Mutex: its entry name is derived from the session's
// lease alone, so two goroutines sharing a session (as every lock of one
// provider does, to keep one lease per process) would both believe they hold
// the lock; and it cannot tell contention from an unreachable cluster. The
// provider follows the same algorithm with an entry per caller.
//
// # Guarantees
//
//   - Token: the entry's create revision, strictly increasing per key (and
//     cluster-wide), surviving leader changes.
//   - Lost: the handle's Lost closes when its entry is deleted (noticed at
//     most 100ms after the grant, plus the watch event's delivery) or when
//     two thirds of the TTL have passed since the sending of the last lease
//     renewal etcd confirmed — before etcd can expire the lease, so before
//     another holder can be granted, however late the answers come.
//   - Unavailability (no quorum, unreachable endpoints) is reported as
//     locking.ErrUnavailable, never as contention: contention is reported
//     only after etcd confirmed that the caller's entry was deleted.
//
// # Goroutines
//
// The provider runs at most two goroutines, whatever the number of locks:
// the session keep-alive, and, while a lock has been held for more than
// 100ms, one watch on its key prefix (deletions only) that tells it when an
// entry of its own is deleted by someone else. Close revokes the lease and
// waits for both. Handles implement
// locking.LostNotifier, so the locking behavior watches a held lock without
// a goroutine of its own either.
package etcd
