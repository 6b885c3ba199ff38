//go:build unix

package kafka

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockFile sits in the data dir; kfake ignores files it does not know.
const lockFile = "hedgeline-broker.lock"

// lockDir takes an exclusive advisory lock on dir so a second broker
// cannot open the same data dir. The kernel drops the lock when the process
// dies, so a killed broker never leaves a stale lock behind.
func lockDir(dir string) (unlock func() error, err error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errors.New("in use by another broker (locked)")
		}
		return nil, fmt.Errorf("lock: %w", err)
	}
	return f.Close, nil // closing the descriptor releases the lock
}
