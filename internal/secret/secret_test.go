package secret

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFromValueOrFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pw")
	if err := os.WriteFile(file, []byte("s3cret\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := FromValueOrFile("--pw", "v", "--pw-file", ""); err != nil || got != "v" {
		t.Errorf("value: %q, %v", got, err)
	}
	if got, err := FromValueOrFile("--pw", "", "--pw-file", file); err != nil || got != "s3cret" {
		t.Errorf("file: %q, %v", got, err)
	}
	if _, err := FromValueOrFile("--pw", "v", "--pw-file", file); err == nil || err.Error() != "--pw and --pw-file are exclusive" {
		t.Errorf("both: %v", err)
	}
	missing := filepath.Join(dir, "missing")
	if _, err := FromValueOrFile("--pw", "", "--pw-file", missing); err == nil ||
		!strings.HasPrefix(err.Error(), "--pw-file: ") || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: %v", err)
	}
}
