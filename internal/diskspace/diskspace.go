// Package diskspace tells a write that failed for lack of space from other
// failures, and how much space a path's file system has left, so a full
// disk is reported as such (what, where, how much is free) and waited out
// instead of being treated as a crash.
package diskspace

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
)

// messages are how ENOSPC and EDQUOT read once a library flattened the
// error into text (goka and sarama keep only the message).
var messages = []string{"no space left on device", "disk quota exceeded"}

// NoSpace reports whether err is, or says it is caused by, a write that
// found no space (ENOSPC) or no quota (EDQUOT).
func NoSpace(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return true
	}
	msg := err.Error()
	for _, m := range messages {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return false
}

// pathRE finds the file named in "<op> <path>: no space left on device"
// (os.PathError's text).
var pathRE = regexp.MustCompile(`(?:write|open|mkdir|sync|truncate|rename) (\S+?): (?:no space left on device|disk quota exceeded)`)

// FailedPath is the file a no-space error names, or "".
func FailedPath(err error) string {
	if m := pathRE.FindStringSubmatch(err.Error()); m != nil {
		return m[1]
	}
	return ""
}

// Usage is the space of the file system holding a path.
type Usage struct {
	Free, Total uint64 // bytes; Free is what an unprivileged writer may use
}

// String reads "1.2 MiB free of 32 MiB".
func (u Usage) String() string {
	return fmt.Sprintf("%s free of %s", Bytes(u.Free), Bytes(u.Total))
}

// Of returns the usage of the file system holding path (or its nearest
// existing parent).
func Of(path string) (Usage, error) {
	p := path
	for {
		u, err := statfs(p)
		if err == nil || !errors.Is(err, syscall.ENOENT) {
			if err != nil {
				return Usage{}, fmt.Errorf("free space of %s: %w", path, err)
			}
			return u, nil
		}
		parent := filepath.Dir(p)
		if parent == p {
			return Usage{}, fmt.Errorf("free space of %s: %w", path, err)
		}
		p = parent
	}
}

// Bytes formats n in binary units.
func Bytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
