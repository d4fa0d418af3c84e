//go:build !race

package locking_test

const raceEnabled = false
