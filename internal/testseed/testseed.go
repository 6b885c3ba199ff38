// Package testseed gives randomized tests a seed that a failure names and
// that can be set to replay it: HEDGELINE_TEST_SEED=<seed> go test ...
package testseed

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// Env is the variable that sets the seed.
const Env = "HEDGELINE_TEST_SEED"

// Seed returns the seed of Env, or a fresh one from the clock, and logs it
// with what it randomizes; a failing test prints how to replay it.
func Seed(t testing.TB, what string) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv(Env); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: not an unsigned integer: %v", Env, v, err)
		}
		seed = s
	}
	t.Logf("seed %d (%s)", seed, what)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("replay with %s=%d", Env, seed)
		}
	})
	return seed
}
