//go:build race

package userpool

// raceEnabled skips the tests that the race detector makes too slow and that test no concurrency.
const raceEnabled = true
