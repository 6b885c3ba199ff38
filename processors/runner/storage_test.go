package runner

import (
	"fmt"
	"path/filepath"
	"testing"
)

// Reads see every write at once; after a crash (the batch never written)
// the table holds a prefix of the writes and an offset no further than
// that prefix, so recovering from the topic from that offset loses
// nothing.
func TestBatchedStorageCrashLeavesAConsistentPrefix(t *testing.T) {
	dir := t.TempDir()
	build := batchedBuilder(dir, levelDBOptions())
	st, err := build("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	const n = 3*batchRecords + 100
	for i := range n {
		key := fmt.Sprintf("k%04d", i)
		if err := st.Set(key, []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
		if v, err := st.Get(key); err != nil || string(v) != fmt.Sprint(i) {
			t.Fatalf("get %s right after set: %q %v", key, v, err)
		}
		// The topic acknowledged record i: goka moves the offset to it.
		if err := st.SetOffset(int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Delete("k0000"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := st.Has("k0000"); ok {
		t.Fatal("deleted key still there")
	}
	// kill -9: the pending batch is lost.
	if err := st.(*batchedStorage).db.Close(); err != nil {
		t.Fatal(err)
	}
	st, err = build("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	off, err := st.GetOffset(-1)
	if err != nil || off < 0 || off >= n {
		t.Fatalf("offset after the crash %d %v", off, err)
	}
	for i := range int(off) + 1 {
		if v, _ := st.Get(fmt.Sprintf("k%04d", i)); string(v) != fmt.Sprint(i) {
			t.Fatalf("record %d at or below the stored offset %d lost: %q", i, off, v)
		}
	}
	it, err := st.Iterator()
	if err != nil {
		t.Fatal(err)
	}
	var keys int
	for it.Next() {
		if string(it.Key()) == offsetKey {
			t.Fatal("iterator shows the offset key")
		}
		keys++
	}
	it.Release()
	if keys < int(off)+1 {
		t.Fatalf("iterator saw %d keys, want at least %d", keys, off+1)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, "t.0", "*.log")); len(matches) == 0 {
		t.Fatal("no LevelDB journal under the table dir")
	}
}
