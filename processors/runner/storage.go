package runner

import (
	"fmt"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/lovoo/goka/storage"
	"github.com/syndtr/goleveldb/leveldb"
	ldbiter "github.com/syndtr/goleveldb/leveldb/iterator"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"
)

// offsetKey is where goka's LevelDB storage keeps the table topic offset
// the local copy has reached; the same key, so state dirs written by
// goka's own storage are read as they are.
const offsetKey = "__offset"

// Batches of local table writes: written when either bound is reached.
// A pipeline has ~20 local tables (stages and views, per partition), so
// the bytes bound is small.
const (
	batchRecords = 256
	batchBytes   = 256 << 10
)

// batchedBuilder opens goka's local tables as batchedStorage under dir.
func batchedBuilder(dir string, opts *opt.Options) storage.Builder {
	return func(topic string, partition int32) (storage.Storage, error) {
		path := filepath.Join(dir, fmt.Sprintf("%s.%d", topic, partition))
		db, err := leveldb.OpenFile(path, opts)
		if err != nil {
			return nil, fmt.Errorf("open local table %s: %w", path, err)
		}
		return &batchedStorage{db: db, pending: map[string][]byte{}, batch: new(leveldb.Batch)}, nil
	}
}

// batchedStorage is a goka storage on LevelDB that writes in batches: one
// journal write per few hundred records instead of one per record (the
// journal's write syscalls were a tenth of a stage's CPU), both while a
// stage runs and while it recovers its table from the topic.
//
// The local table is a cache of the table topic: on start goka reads the
// topic from the stored offset on. Writes reach LevelDB in the order they
// were made, the offset last in each batch, so what a crash leaves is the
// state as of some earlier moment with the offset of that moment or
// before; goka then recovers the rest from the topic. A write whose topic
// record never landed is lost with the batch, which the runner already
// handles as a lost table write (the input is decided again).
type batchedStorage struct {
	db *leveldb.DB

	mu      sync.Mutex
	pending map[string][]byte // written, not yet in LevelDB; nil value: deleted
	batch   *leveldb.Batch
	size    int
	offset  int64 // the latest offset goka set; written with each batch
	dirty   bool  // offset changed since the last batch
}

func (s *batchedStorage) Open() error { return nil }

func (s *batchedStorage) Close() error {
	s.mu.Lock()
	err := s.flushLocked()
	s.mu.Unlock()
	if cerr := s.db.Close(); err == nil {
		err = cerr
	}
	return err
}

func (s *batchedStorage) Has(key string) (bool, error) {
	v, err := s.Get(key)
	return v != nil, err
}

func (s *batchedStorage) Get(key string) ([]byte, error) {
	s.mu.Lock()
	v, ok := s.pending[key]
	s.mu.Unlock()
	if ok {
		return v, nil
	}
	v, err := s.db.Get([]byte(key), nil)
	if err == leveldb.ErrNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("local table get %q: %w", key, err)
	}
	return v, nil
}

func (s *batchedStorage) Set(key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batch.Put([]byte(key), value)
	// A copy: the caller may reuse its buffer (the batch copies too).
	s.pending[key] = append([]byte{}, value...)
	s.size += len(key) + len(value)
	return s.maybeFlushLocked()
}

func (s *batchedStorage) Delete(key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batch.Delete([]byte(key))
	s.pending[key] = nil
	s.size += len(key)
	return s.maybeFlushLocked()
}

func (s *batchedStorage) GetOffset(def int64) (int64, error) {
	s.mu.Lock()
	off, dirty := s.offset, s.dirty
	s.mu.Unlock()
	if dirty {
		return off, nil
	}
	v, err := s.db.Get([]byte(offsetKey), nil)
	if err == leveldb.ErrNotFound {
		return def, nil
	}
	if err != nil {
		return 0, fmt.Errorf("local table offset: %w", err)
	}
	off, err = strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("local table offset %q: %w", v, err)
	}
	return off, nil
}

func (s *batchedStorage) SetOffset(offset int64) error {
	s.mu.Lock()
	s.offset, s.dirty = offset, true
	s.mu.Unlock()
	return nil
}

// MarkRecovered writes what recovery left in the batch.
func (s *batchedStorage) MarkRecovered() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flushLocked()
}

func (s *batchedStorage) Iterator() (storage.Iterator, error) {
	return s.IteratorWithRange(nil, nil)
}

func (s *batchedStorage) IteratorWithRange(start, limit []byte) (storage.Iterator, error) {
	s.mu.Lock()
	err := s.flushLocked()
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	r := util.BytesPrefix(start)
	if len(limit) > 0 {
		r = &util.Range{Start: start, Limit: limit}
	}
	return &iterator{it: s.db.NewIterator(r, &opt.ReadOptions{DontFillCache: true})}, nil
}

func (s *batchedStorage) maybeFlushLocked() error {
	if s.batch.Len() < batchRecords && s.size < batchBytes {
		return nil
	}
	return s.flushLocked()
}

func (s *batchedStorage) flushLocked() error {
	if s.dirty {
		s.batch.Put([]byte(offsetKey), strconv.AppendInt(nil, s.offset, 10))
	}
	if s.batch.Len() == 0 {
		return nil
	}
	if err := s.db.Write(s.batch, nil); err != nil {
		return fmt.Errorf("local table write: %w", err)
	}
	s.batch.Reset()
	clear(s.pending)
	s.size, s.dirty = 0, false
	return nil
}

// iterator adapts a LevelDB iterator to goka's, skipping the offset key.
type iterator struct{ it ldbiter.Iterator }

func (i *iterator) Next() bool {
	for i.it.Next() {
		if string(i.it.Key()) != offsetKey {
			return true
		}
	}
	return false
}
func (i *iterator) Err() error             { return i.it.Error() }
func (i *iterator) Key() []byte            { return i.it.Key() }
func (i *iterator) Value() ([]byte, error) { return i.it.Value(), nil }
func (i *iterator) Release()               { i.it.Release() }
func (i *iterator) Seek(key []byte) bool   { return i.it.Seek(key) }
