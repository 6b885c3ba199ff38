//go:build !unix

package kafka

// lockDir is a no-op where flock is unavailable: callers must not start two
// brokers on one data dir.
func lockDir(string) (func() error, error) { return func() error { return nil }, nil }
