//go:build !race

package userpool

const raceEnabled = false
