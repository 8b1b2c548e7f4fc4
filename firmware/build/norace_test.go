//go:build !race

package main

import "testing"

// skipUnderRace skips tests whose subject is a binary they build (never a
// race build): the race pass would only run them again.
func skipUnderRace(t *testing.T) { t.Helper() }
