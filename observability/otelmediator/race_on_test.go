//go:build race

package otelmediator_test

// raceEnabled: the race detector changes what allocates.
const raceEnabled = true
