package schwab

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hedgeline/hedgeline/market"
)

// TestFileJournalRestart: a process that placed an order, and one that
// died after Schwab accepted an order whose answer it never got, are
// followed by a new process on the same journal file: neither order is
// placed again.
func TestFileJournalRestart(t *testing.T) {
	f := newFake(t)
	path := filepath.Join(t.TempDir(), "schwab-journal.jsonl")
	open := func() *FileJournal {
		j, err := OpenFileJournal(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { j.Close() })
		return j
	}
	j := open()
	b := f.broker(t, func(c *Config) { c.Journal = j })
	first, err := b.Place(ctx, hedge("exec-1", "GME", 1, market.Buy))
	if err != nil {
		t.Fatal(err)
	}
	f.LoseAnswer = 1
	if _, err := b.Place(ctx, hedge("exec-2", "GME", 2, market.Sell)); err == nil {
		t.Fatal("lost answer: no error")
	}
	j.Close()
	// A torn line from a kill mid-append is dropped.
	fh, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	fh.WriteString(`{"client_order_id":"exec-9","sym`)
	fh.Close()

	b2 := f.broker(t, func(c *Config) { c.Journal = open() })
	p, err := b2.Place(ctx, hedge("exec-1", "GME", 1, market.Buy))
	if err != nil || !p.Existing || p.BrokerOrderID != first.BrokerOrderID || !p.AcceptedAt.Equal(first.AcceptedAt) {
		t.Fatalf("exec-1 after restart: %+v, %v", p, err)
	}
	k, err := b2.Find(ctx, "exec-2")
	if err != nil || k.BrokerOrderID != "1004055538154" {
		t.Fatalf("exec-2 after restart: %+v, %v", k, err)
	}
	if _, err := b2.Find(ctx, "exec-9"); err == nil {
		t.Fatal("torn entry found")
	}
	if n := f.Count("POST /trader"); n != 2 {
		t.Fatalf("%d orders posted, want 2", n)
	}

	os.WriteFile(path, []byte("{\"client_order_id\":\"a\"}\nnot json\n{}\n"), 0o600)
	if _, err := OpenFileJournal(path); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("corrupt journal: %v", err)
	}
}
