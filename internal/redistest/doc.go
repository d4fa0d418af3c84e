// Package redistest runs a real redis-server for tests: each [Start] launches
// its own process on a free loopback port with no persistence, and the test's
// cleanup stops it. Faults are injected on the real process: [Server.Stop],
// [Server.Restart] (same port), [Server.Kill] (SIGKILL), [Server.Pause] and
// [Server.Resume] (SIGSTOP/SIGCONT).
//
// The binary is redis-server from PATH, or the file named by the environment
// variable REDIS_SERVER_BIN. When it is missing the test is skipped with a
// loud message, except with CI=true, where a missing binary fails the test.
//
// For tests across processes, [Spawn] runs the test binary again as a child
// that executes one test only; the child recognises itself with [ChildRole].
//
// Goroutines: a Server owns one goroutine per redis-server process it starts
// (it waits for the process to exit) and it ends when the process does. A
// test that checks for leaked goroutines registers that check before Start,
// t.Cleanup(func() { goleak.VerifyNone(t) }), so that it runs after the
// server's cleanup (cleanups run last registered first).
package redistest
