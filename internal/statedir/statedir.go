// Package statedir is hedgeline's local state directory (--state-dir): one
// process at a time, and nothing deleted that hedgeline did not create.
//
//   - Open locks <dir>/hedgeline.lock (package dirlock): a second hedgeline
//     process on the same directory fails at once with an error naming the
//     directory and the holder's pid and command. The lock dies with its
//     process, so a killed one does not block the next start.
//   - A directory hedgeline creates, or finds empty, gets a marker file
//     (hedgeline-state). Reset, the demo's clean slate, deletes only the
//     entries the caller names as its own, and refuses (deleting nothing)
//     when the directory holds anything else, or is neither marked nor
//     empty: a --state-dir pointed at a user's directory is never emptied.
package statedir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hedgeline/hedgeline/internal/dirlock"
)

const (
	// LockFile is locked by the process using the directory.
	LockFile = "hedgeline.lock"
	// MarkerFile says the directory is hedgeline's.
	MarkerFile = "hedgeline-state"
)

// Dir is a locked state directory. Close releases it.
type Dir struct {
	path   string
	lock   *dirlock.Lock
	marked bool
}

// Open creates path if it is missing, locks it and marks it when it is new
// or empty. A directory locked by another process is an error wrapping a
// *dirlock.LockedError.
func Open(path string) (*Dir, error) {
	if err := os.MkdirAll(path, 0o755); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	l, err := dirlock.Acquire(filepath.Join(path, LockFile))
	if err != nil {
		return nil, fmt.Errorf("state dir %s: %w; one hedgeline process per state dir: stop that one or give this one another --state-dir", path, err)
	}
	d := &Dir{path: path, lock: l}
	names, err := d.entries()
	if err != nil {
		l.Unlock()
		return nil, err
	}
	switch {
	case slices.Contains(names, MarkerFile):
		d.marked = true
	case len(names) == 0:
		if err := d.mark(); err != nil {
			l.Unlock()
			return nil, err
		}
	}
	return d, nil
}

// Path is the directory.
func (d *Dir) Path() string { return d.path }

// Marked reports whether the directory carries hedgeline's marker.
func (d *Dir) Marked() bool { return d.marked }

// Close releases the lock.
func (d *Dir) Close() error { return d.lock.Unlock() }

// Reset deletes the entries of owned (names directly in the directory:
// what the caller creates there) and keeps the lock and the marker. It
// deletes nothing and returns an error listing them when the directory
// holds any other entry, or when it holds entries but no marker, unless
// adopt says the directory is hedgeline's by definition (the demo's default
// .state/demo, written by versions before the marker). It marks the
// directory.
func (d *Dir) Reset(owned []string, adopt bool) error {
	names, err := d.entries()
	if err != nil {
		return err
	}
	var foreign, ours []string
	for _, n := range names {
		switch {
		case n == MarkerFile:
		case slices.Contains(owned, n):
			ours = append(ours, n)
		default:
			foreign = append(foreign, n)
		}
	}
	if len(foreign) > 0 {
		return fmt.Errorf("state dir %s holds entries hedgeline did not create (%s): refusing to reset it, nothing was deleted; "+
			"move them elsewhere or use a --state-dir of its own", d.path, strings.Join(foreign, ", "))
	}
	if len(ours) > 0 && !d.marked && !adopt {
		return fmt.Errorf("state dir %s is not marked as hedgeline's (no %s file) and is not empty (%s): refusing to reset it, nothing was deleted; "+
			"delete it yourself if it is a hedgeline state dir, or use a --state-dir of its own", d.path, MarkerFile, strings.Join(ours, ", "))
	}
	for _, n := range ours {
		if err := os.RemoveAll(filepath.Join(d.path, n)); err != nil {
			return fmt.Errorf("reset state dir: %w", err)
		}
	}
	if !d.marked {
		return d.mark()
	}
	return nil
}

// entries lists the directory without the lock file.
func (d *Dir) entries() ([]string, error) {
	des, err := os.ReadDir(d.path)
	if err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	var names []string
	for _, de := range des {
		if de.Name() != LockFile {
			names = append(names, de.Name())
		}
	}
	return names, nil
}

func (d *Dir) mark() error {
	text := fmt.Sprintf("hedgeline state directory, marked %s.\n"+
		"hedgeline keeps its local state here (goka tables, and with --embedded the broker's and ClickHouse's data);\n"+
		"`hedgeline demo` deletes what hedgeline created here, and refuses if anything else is here.\n", time.Now().UTC().Format(time.RFC3339))
	if err := os.WriteFile(filepath.Join(d.path, MarkerFile), []byte(text), 0o644); err != nil {
		return fmt.Errorf("mark state dir: %w", err)
	}
	d.marked = true
	return nil
}

// IsLocked reports whether err says the directory is in use.
func IsLocked(err error) bool {
	var le *dirlock.LockedError
	return errors.As(err, &le)
}
