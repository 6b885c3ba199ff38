//go:build !unix

package dryrun

import "os"

// lockFile is a no-op where flock is unavailable: callers must not open one
// ledger twice.
func lockFile(*os.File) error { return nil }
