//go:build unix

package dryrun

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockFile takes an exclusive advisory lock on the open ledger, released
// when the file is closed or the process dies.
func lockFile(f *os.File) error {
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return errors.New("in use by another dry-run broker (locked)")
		}
		return fmt.Errorf("lock: %w", err)
	}
	return nil
}
