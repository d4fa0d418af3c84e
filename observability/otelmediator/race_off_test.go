//go:build !race

package otelmediator_test

const raceEnabled = false
