//go:build race

package main

// raceEnabled: the test binary runs with the race detector, so the process
// tests build the service with it too (and reuse the compiled packages).
const raceEnabled = true
