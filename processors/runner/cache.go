package runner

import (
	"bytes"
	"sync"
)

// stateCacheSize bounds the decoded states a stage keeps: enough for every
// hot key (a symbol, an order in flight), not for every trade ever seen.
const stateCacheSize = 4096

// stateCache keeps the record and decoded state of the keys a stage wrote
// last, so the next input of a hot key neither reads its record from
// LevelDB nor decodes its state (JSON, the largest part of a stateful
// hop's CPU). Within a consumer-group session only this processor's
// callback writes its partitions' table, so the record it wrote last is
// the table's. Every rebalance empties the cache (goka calls back before
// any partition of the new session starts): a partition handed back may
// come with records another instance wrote meanwhile.
//
// Handlers may change maps inside the state they are given; that is safe
// because the state they return replaces the entry whenever a record is
// written, a record that is not written encodes as before (step compares),
// and a failed input stops the processor, whose restart starts a new cache.
type stateCache[S any] struct {
	mu sync.Mutex
	m  map[string]cachedState[S]
}

type cachedState[S any] struct {
	raw   []byte
	state S
}

func newStateCache[S any]() *stateCache[S] {
	return &stateCache[S]{m: make(map[string]cachedState[S])}
}

func (c *stateCache[S]) get(key string, raw []byte) (S, bool) {
	var zero S
	if c == nil || raw == nil {
		return zero, false
	}
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if !ok || !bytes.Equal(e.raw, raw) {
		return zero, false
	}
	return e.state, true
}

// record returns the record this processor wrote last for key, if cached.
func (c *stateCache[S]) record(key string) ([]byte, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	return e.raw, ok
}

// clear forgets every entry (a rebalance).
func (c *stateCache[S]) clear() {
	c.mu.Lock()
	clear(c.m)
	c.mu.Unlock()
}

func (c *stateCache[S]) put(key string, raw []byte, s S) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[key]; !ok && len(c.m) >= stateCacheSize {
		for k := range c.m { // any one: Go's map order is random
			delete(c.m, k)
			break
		}
	}
	c.m[key] = cachedState[S]{raw: raw, state: s}
}
