package kafka

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hedgeline/hedgeline/internal/dirlock"
)

// lockFile sits in the data dir; kfake ignores files it does not know.
const lockFile = "hedgeline-broker.lock"

// lockDir takes an exclusive lock on dir so a second broker cannot open the
// same data dir (kfake itself does not lock). A killed broker leaves no
// stale lock behind (see package dirlock).
func lockDir(dir string) (unlock func() error, err error) {
	l, err := dirlock.Acquire(filepath.Join(dir, lockFile))
	if err != nil {
		return nil, err
	}
	return l.Unlock, nil
}

// CheckDataDirFree fails if a broker holds dir (a missing dir is free).
func CheckDataDirFree(dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return fmt.Errorf("kafka data dir %s: %w", dir, err)
	}
	return unlock()
}
