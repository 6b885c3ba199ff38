// Package dirlock keeps two processes out of one directory: an exclusive
// advisory lock (flock) on a file in it, with the holder's pid, command and
// start time written inside so the one refused can say who holds it.
//
// The kernel drops a flock when its process dies, so the file a killed
// process leaves behind is not a lock: the next Lock takes it over. The
// file is never deleted (deleting a flocked file lets a third process lock
// a new file of the same name while the second still holds the old one).
package dirlock

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Holder is who holds a lock, as written in its file.
type Holder struct {
	PID     int       `json:"pid"`
	Command string    `json:"command"`
	Since   time.Time `json:"since"`
}

func (h Holder) String() string {
	return fmt.Sprintf("pid %d (%s, since %s)", h.PID, h.Command, h.Since.Format(time.RFC3339))
}

func (h Holder) describe(lockFile string) string {
	return fmt.Sprintf("pid %d (%s, since %s; lock file %s)", h.PID, h.Command, h.Since.Format(time.RFC3339), lockFile)
}

// LockedError is returned when another open file (another process, or the
// same process twice) holds the lock.
type LockedError struct {
	Path   string
	Holder *Holder // nil when the file did not say (yet)
}

func (e *LockedError) Error() string {
	if e.Holder == nil {
		return fmt.Sprintf("in use by another process (%s is locked)", e.Path)
	}
	return "in use by " + e.Holder.describe(e.Path)
}

// Lock is a held lock; Unlock releases it.
type Lock struct {
	f    *os.File
	path string
}

// Acquire takes the exclusive lock on the file at path (created if missing,
// its directory must exist) without waiting, and records this process as
// its holder.
func Acquire(path string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	locked, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if !locked {
		f.Close()
		return nil, &LockedError{Path: path, Holder: readHolder(path)}
	}
	h := Holder{PID: os.Getpid(), Command: command(), Since: time.Now().UTC().Truncate(time.Second)}
	b, _ := json.Marshal(h)
	// The holder line is information only: a failure to write it (a full
	// disk) must not stop the lock from working.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt(append(b, '\n'), 0)
	}
	return &Lock{f: f, path: path}, nil
}

// Path is the lock file.
func (l *Lock) Path() string { return l.path }

// Unlock releases the lock (closing the descriptor drops the flock).
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

func readHolder(path string) *Holder {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var h Holder
	if json.Unmarshal(b, &h) != nil || h.PID == 0 {
		return nil
	}
	return &h
}

// command names this process for a message: the program and its
// subcommand only. Flag values stay out: they can hold secrets
// (--clickhouse-password=...), and the lock file outlives the process.
func command() string {
	args := []string{filepath.Base(os.Args[0])}
	if len(os.Args) > 1 && !strings.HasPrefix(os.Args[1], "-") {
		args = append(args, os.Args[1])
	}
	return strings.Join(args, " ")
}
