package schwab

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// FileJournal is a durable Journal: one JSON line per Put, fsynced before
// Put returns, so a Place retried after a crash finds its first attempt.
// The last line for a client order id wins. A torn last line (killed
// mid-append) is cut off on open; any other unreadable line is an error
// naming its line number. One process at a time: the file is not locked.
type FileJournal struct {
	mu   sync.Mutex
	f    *os.File
	path string
	mem  *MemoryJournal
}

// OpenFileJournal opens (creating) the journal at path.
func OpenFileJournal(path string) (*FileJournal, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("schwab journal: %w", err)
	}
	j := &FileJournal{f: f, path: path, mem: NewMemoryJournal()}
	if err := j.load(); err != nil {
		f.Close()
		return nil, err
	}
	return j, nil
}

func (j *FileJournal) load() error {
	data, err := io.ReadAll(j.f)
	if err != nil {
		return fmt.Errorf("schwab journal %s: %w", j.path, err)
	}
	good, line := 0, 0
	for len(data[good:]) > 0 {
		rest := data[good:]
		n := bytes.IndexByte(rest, '\n')
		line++
		if n < 0 { // torn last line: never acknowledged, drop it
			if err := j.f.Truncate(int64(good)); err != nil {
				return fmt.Errorf("schwab journal %s: cut torn last line: %w", j.path, err)
			}
			break
		}
		var e Entry
		if err := json.Unmarshal(rest[:n], &e); err != nil || e.ClientOrderID == "" {
			return fmt.Errorf("schwab journal %s line %d: not an entry: %v", j.path, line, err)
		}
		j.mem.Put(e)
		good += n + 1
	}
	if _, err := j.f.Seek(int64(good), io.SeekStart); err != nil {
		return fmt.Errorf("schwab journal %s: %w", j.path, err)
	}
	return nil
}

func (j *FileJournal) Get(id string) (Entry, bool, error) { return j.mem.Get(id) }

func (j *FileJournal) ClaimedBy(orderID string) (string, bool, error) {
	return j.mem.ClaimedBy(orderID)
}

func (j *FileJournal) Put(e Entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return errors.New("schwab journal closed")
	}
	w := bufio.NewWriter(j.f)
	w.Write(b)
	w.WriteByte('\n')
	if err := w.Flush(); err != nil {
		return fmt.Errorf("schwab journal %s: %w", j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("schwab journal %s: sync: %w", j.path, err)
	}
	return j.mem.Put(e)
}

func (j *FileJournal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}
