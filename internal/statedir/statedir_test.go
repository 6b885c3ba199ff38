package statedir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var owned = []string{"tables", "kafka", "dry-run-ledger.jsonl"}

func write(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func exists(path string) bool { _, err := os.Stat(path); return err == nil }

func open(t *testing.T, dir string) *Dir {
	t.Helper()
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestResetDeletesOnlyWhatHedgelineCreated(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	d := open(t, dir)
	if !d.Marked() || !exists(filepath.Join(dir, MarkerFile)) {
		t.Fatal("a new state dir is not marked")
	}
	write(t, filepath.Join(dir, "tables", "g", "000001.log"))
	write(t, filepath.Join(dir, "dry-run-ledger.jsonl"))
	if err := d.Reset(owned, false); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"tables", "dry-run-ledger.jsonl"} {
		if exists(filepath.Join(dir, n)) {
			t.Errorf("%s survived the reset", n)
		}
	}
	for _, n := range []string{MarkerFile, LockFile} {
		if !exists(filepath.Join(dir, n)) {
			t.Errorf("%s was deleted by the reset", n)
		}
	}
}

func TestResetRefusesAUserFile(t *testing.T) {
	dir := t.TempDir()
	d := open(t, dir) // empty: marked
	write(t, filepath.Join(dir, "tables", "g", "000001.log"))
	write(t, filepath.Join(dir, "notes.txt"))
	err := d.Reset(owned, true)
	if err == nil || !strings.Contains(err.Error(), "notes.txt") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("want a refusal naming the dir and notes.txt, got %v", err)
	}
	for _, n := range []string{"notes.txt", "tables/g/000001.log"} {
		if !exists(filepath.Join(dir, n)) {
			t.Errorf("%s was deleted by a refused reset", n)
		}
	}
}

func TestResetRefusesAnUnmarkedDirUnlessAdopted(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "kafka", "meta.json")) // a name hedgeline uses, not made by it
	d := open(t, dir)
	if d.Marked() {
		t.Fatal("a non-empty directory was marked")
	}
	if err := d.Reset(owned, false); err == nil || !strings.Contains(err.Error(), "not marked") {
		t.Fatalf("want a refusal of an unmarked dir, got %v", err)
	}
	if !exists(filepath.Join(dir, "kafka", "meta.json")) {
		t.Fatal("a refused reset deleted kafka/")
	}
	if err := d.Reset(owned, true); err != nil {
		t.Fatal(err)
	}
	if exists(filepath.Join(dir, "kafka")) || !d.Marked() {
		t.Fatal("an adopted reset did not delete kafka/ and mark the dir")
	}
}

func TestSecondOpenIsRefused(t *testing.T) {
	dir := t.TempDir()
	open(t, dir)
	_, err := Open(dir)
	if !IsLocked(err) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "pid ") {
		t.Fatalf("want a locked error naming the dir and the holder, got %v", err)
	}
}
