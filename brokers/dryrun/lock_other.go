//go:build !unix

package dryrun

import "os"

// Without flock the ledger is not locked: only one Broker, in one process,
// may use a ledger file at a time there.
func lockFile(*os.File, bool) error { return nil }

func unlockFile(*os.File) error { return nil }
