package diskspace

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
)

func TestNoSpace(t *testing.T) {
	wrapped := fmt.Errorf("ledger: %w", &os.PathError{Op: "write", Path: "/s/dry-run-ledger.jsonl", Err: syscall.ENOSPC})
	// goka keeps only the text of the error it wraps.
	flat := errors.New("error setting to leveldb (key X): write /s/tables/g/g-table.1/000001.log: no space left on device")
	for _, c := range []struct {
		err  error
		want bool
		path string
	}{
		{wrapped, true, "/s/dry-run-ledger.jsonl"},
		{flat, true, "/s/tables/g/g-table.1/000001.log"},
		{errors.New("kafka server: Unexpected (unknown?) server error"), false, ""},
		{nil, false, ""},
	} {
		if got := NoSpace(c.err); got != c.want {
			t.Errorf("NoSpace(%v) = %v", c.err, got)
		}
		if c.err != nil {
			if got := FailedPath(c.err); got != c.path {
				t.Errorf("FailedPath(%v) = %q, want %q", c.err, got, c.path)
			}
		}
	}
}

func TestOfAMissingPathIsItsParent(t *testing.T) {
	dir := t.TempDir()
	u, err := Of(dir + "/not/yet/there")
	if err != nil || u.Total == 0 {
		t.Fatalf("Of: %+v, %v", u, err)
	}
	if got := Bytes(3 << 20); got != "3.0 MiB" {
		t.Errorf("Bytes: %s", got)
	}
}
