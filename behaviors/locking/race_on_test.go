//go:build race

package locking_test

// raceEnabled: the race detector changes what allocates.
const raceEnabled = true
