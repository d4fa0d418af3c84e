// Package memory is an in-process lock provider for the locking behavior:
// for development, tests, and applications that run as a single process.
//
// # Semantics
//
// A [Provider] keeps, for every key that is held, the holder and a FIFO queue
// of waiters. Release hands the lock straight to the first waiter, so waiters
// are served in arrival order and a newcomer never overtakes them. A key's
// state is deleted as soon as nobody holds or waits for it, so locking a
// million distinct keys leaves nothing behind.
//
// A waiter blocks in its own goroutine (the caller's) on a channel, its
// context and a timer; the provider starts no goroutine. A waiter whose
// timeout runs out or whose context ends leaves the queue and is never granted
// afterwards.
//
// Fencing tokens come from a counter per shard of the key space (a key always
// falls in the same shard), so they grow with every grant of a key; tokens of
// different keys are not ordered with each other. In-process locks cannot be
// lost: [locking.Handle.Lost] returns nil and the behavior watches nothing.
//
// # Registration
//
//	m, err := mediator.New(
//	    memory.WithInMemoryDistributedLocking(),
//	    locking.WithDistributedLocking[WithdrawCommand, WithdrawResult](),
//	    mediator.WithHandler[WithdrawCommand, WithdrawResult](NewWithdrawHandler),
//	)
package memory
