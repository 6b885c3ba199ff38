package dirlock

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestSecondLockNamesTheHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	l, err := Acquire(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(path) // flock conflicts between two opens of one process too
	var le *LockedError
	if !errors.As(err, &le) {
		t.Fatalf("second Acquire: want a LockedError, got %v", err)
	}
	if le.Holder == nil || le.Holder.PID != os.Getpid() {
		t.Fatalf("holder: want pid %d, got %+v", os.Getpid(), le.Holder)
	}
	if msg := err.Error(); !strings.Contains(msg, "pid "+strconv.Itoa(os.Getpid())) || !strings.Contains(msg, path) {
		t.Fatalf("message does not name the pid and the lock file: %q", msg)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	l2, err := Acquire(path)
	if err != nil {
		t.Fatalf("after Unlock: %v", err)
	}
	l2.Unlock()
}

// The lock file outlives the process and is shown to others: no flag value
// (a password on the command line) may reach it.
func TestHolderKeepsNoFlagValues(t *testing.T) {
	old := os.Args
	t.Cleanup(func() { os.Args = old })
	os.Args = []string{"/usr/bin/hedgeline", "run", "--clickhouse-password=s3cret", "--state-dir", "/x"}
	path := filepath.Join(t.TempDir(), "lock")
	l, err := Acquire(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "s3cret") || !strings.Contains(string(b), `"hedgeline run"`) {
		t.Errorf("lock file holds %s", b)
	}
}
