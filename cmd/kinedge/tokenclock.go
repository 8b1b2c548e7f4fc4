package main

import (
	"os"
	"strings"
	"time"
)

// tokenClockEnv names a file holding a Go duration (e.g. "20m") that the
// clocks of the media tokens and the HLS session tokens run ahead of the
// wall clock by, read at every mint and check (tests of token expiry
// only: they mint tokens, move this clock past their lifetime, and check
// that the appliance refuses them while fresh ones still open; a missing
// or empty file is no skew).
const tokenClockEnv = "KINEDGE_TEST_TOKEN_CLOCK_SKEW_FILE"

// tokenClock returns the token clock of $KINEDGE_TEST_TOKEN_CLOCK_SKEW_FILE,
// or nil (the tokens' own default, the wall clock) when it is not set.
func tokenClock() func() time.Time {
	file := os.Getenv(tokenClockEnv)
	if file == "" {
		return nil
	}
	return func() time.Time {
		b, err := os.ReadFile(file)
		if err != nil {
			return time.Now()
		}
		d, err := time.ParseDuration(strings.TrimSpace(string(b)))
		if err != nil {
			return time.Now()
		}
		return time.Now().Add(d)
	}
}
