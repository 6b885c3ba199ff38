//go:build unix

package dryrun

import (
	"errors"
	"os"
	"syscall"
)

// lockFile waits for an advisory lock on the open ledger: exclusive to
// append, shared to read. flock locks belong to the open file, so two
// Brokers in one process exclude each other as two processes do, and the
// kernel drops the lock of a process that dies.
func lockFile(f *os.File, exclusive bool) error {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

func unlockFile(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }
