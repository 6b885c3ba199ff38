package sinks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/hedgeline/hedgeline/topics"
)

// Item is one decoded input record: the key its state lives under (an
// aggregate id, or a symbol), its version (the event's sequence) and the
// event.
type Item[E any] struct {
	Key     string
	Version uint64
	// AggregateID names the aggregate in a rejection; it may be set even
	// when decoding failed half-way.
	AggregateID string
	Event       E
}

// Emit adds a side row to table; a later row with the same key in the same
// batch replaces it (rows of one key collapse in ClickHouse anyway).
type Emit func(table, key string, row []any)

// StateConfig describes a StateProjection.
type StateConfig[S, E any] struct {
	Name, Topic string
	// AggregateType is written into rejections of this topic's records.
	AggregateType string
	// StateTable holds one row per key; its columns include KeyColumn,
	// VersionColumn and "state" (the JSON of S).
	StateTable               Table
	KeyColumn, VersionColumn string
	// SideTables receive rows emitted by Apply (inserted before StateTable).
	SideTables []Table
	// MaxCached bounds the states kept in memory (default 100000); beyond
	// it the least recently used half is dropped and read back on demand.
	MaxCached int

	// Decode reads a record. An error rejects it; nothing is applied.
	Decode func(r *kgo.Record) (Item[E], error)
	// Apply folds an event into its key's state; fresh means the key had
	// no state (s is the zero S). It must not modify what s points to. A
	// non-nil error rejects the event, naming why it does not fold; the
	// returned state is kept all the same (it may record the failure).
	Apply func(s S, fresh bool, it Item[E], emit Emit) (S, error)
	// Row is the StateTable row of key at version; stateJSON is the JSON
	// of s for the state column.
	Row func(key string, version uint64, s S, stateJSON string) []any
}

// StateProjection folds the events of one topic per key into a state S and
// writes one row per key per batch (its final state) to a state table, plus
// any side rows. States are cached in memory; a key not cached is read back
// from the state table (FINAL), which is also what makes a restart exact.
// An event whose version is not above the key's folded version is a
// duplicate and skipped.
type StateProjection[S, E any] struct {
	cfg StateConfig[S, E]

	mu    sync.Mutex
	cache map[string]*entry[S]
	gen   uint64
}

type entry[S any] struct {
	version uint64
	state   S
	gen     uint64
	exists  bool // false: a fresh key, no state yet
	dirty   bool // changed in the batch being projected
}

// NewStateProjection checks cfg and returns the projection.
func NewStateProjection[S, E any](cfg StateConfig[S, E]) (*StateProjection[S, E], error) {
	var errs []error
	if cfg.Name == "" || cfg.Topic == "" {
		errs = append(errs, errors.New("name and topic are required"))
	}
	if cfg.Decode == nil || cfg.Apply == nil || cfg.Row == nil {
		errs = append(errs, errors.New("the Decode, Apply and Row funcs are required"))
	}
	for _, c := range []string{cfg.KeyColumn, cfg.VersionColumn, "state"} {
		if !slices.Contains(cfg.StateTable.Columns, c) {
			errs = append(errs, fmt.Errorf("state table %s has no column %q", cfg.StateTable.Name, c))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("state projection %s: %w", cfg.Name, err)
	}
	if cfg.MaxCached <= 0 {
		cfg.MaxCached = 100_000
	}
	return &StateProjection[S, E]{cfg: cfg, cache: map[string]*entry[S]{}}, nil
}

func (p *StateProjection[S, E]) Name() string  { return p.cfg.Name }
func (p *StateProjection[S, E]) Topic() string { return p.cfg.Topic }

// Tables lists the side tables, then the state table (see Projection).
func (p *StateProjection[S, E]) Tables() []Table {
	return append(slices.Clone(p.cfg.SideTables), p.cfg.StateTable)
}

// Reset drops every cached state.
func (p *StateProjection[S, E]) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.cache)
}

// Cached reports how many states are in memory (for tests and metrics).
func (p *StateProjection[S, E]) Cached() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.cache)
}

type decoded[E any] struct {
	rec *kgo.Record
	it  Item[E]
}

// Project implements Projection. The cache changes only when it succeeds.
func (p *StateProjection[S, E]) Project(ctx context.Context, rd StateReader, tables TableNames, recs []*kgo.Record) (Batch, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gen++
	p.evict()

	b := Batch{Rows: map[string][][]any{}}
	items := make([]decoded[E], 0, len(recs))
	var missing []string
	wanted := map[string]bool{}
	its, errs := p.decodeAll(recs)
	for i, r := range recs {
		it, err := its[i], errs[i]
		if err != nil {
			b.Rejected = append(b.Rejected, Rejected{Record: r, AggregateType: p.cfg.AggregateType, AggregateID: it.AggregateID, Err: err})
			continue
		}
		items = append(items, decoded[E]{r, it})
		if _, ok := p.cache[it.Key]; !ok && !wanted[it.Key] {
			wanted[it.Key] = true
			missing = append(missing, it.Key)
		}
	}

	work := make(map[string]*entry[S], len(wanted))
	if len(missing) > 0 {
		table := tables.Of(p.cfg.StateTable.Name)
		stored, err := rd.ReadStates(ctx, table, p.cfg.KeyColumn, p.cfg.VersionColumn, missing)
		if err != nil {
			return Batch{}, err
		}
		for _, k := range missing {
			e := &entry[S]{}
			if st, ok := stored[k]; ok {
				if err := json.Unmarshal(st.State, &e.state); err != nil {
					return Batch{}, permanent(fmt.Errorf("state of %q in %s does not decode: %w", k, table, err))
				}
				e.version, e.exists = st.Version, true
			}
			work[k] = e
		}
	}

	side := map[string]*sideRows{}
	emit := func(table, key string, row []any) {
		s := side[table]
		if s == nil {
			s = &sideRows{at: map[string]int{}}
			side[table] = s
		}
		s.add(key, row)
	}
	var order []string
	for _, d := range items {
		k := d.it.Key
		e, ok := work[k]
		if !ok {
			c := *p.cache[k]
			e = &c
			work[k] = e
		}
		if e.exists && d.it.Version <= e.version {
			continue // applied before: a redelivery or a re-published event
		}
		s, err := p.cfg.Apply(e.state, !e.exists, d.it, emit)
		e.state, e.version, e.exists = s, d.it.Version, true
		if !e.dirty {
			e.dirty = true
			order = append(order, k)
		}
		if err != nil {
			b.Rejected = append(b.Rejected, Rejected{Record: d.rec, AggregateType: p.cfg.AggregateType, AggregateID: d.it.AggregateID, Err: err})
		}
	}

	for _, t := range p.cfg.SideTables {
		if s := side[t.Name]; s != nil {
			b.Rows[t.Name] = s.rows
		}
	}
	for _, k := range order {
		e := work[k]
		js, err := json.Marshal(e.state)
		if err != nil {
			return Batch{}, permanent(fmt.Errorf("encode state of %q: %w", k, err))
		}
		b.Rows[p.cfg.StateTable.Name] = append(b.Rows[p.cfg.StateTable.Name], p.cfg.Row(k, e.version, e.state, string(js)))
	}

	for k, e := range work {
		e.dirty, e.gen = false, p.gen
		p.cache[k] = e
	}
	return b, nil
}

// decodeAll decodes recs, in parallel for big batches: decoding (JSON) is
// most of a projection's CPU and is independent per record.
func (p *StateProjection[S, E]) decodeAll(recs []*kgo.Record) ([]Item[E], []error) {
	its, errs := make([]Item[E], len(recs)), make([]error, len(recs))
	workers := min(runtime.GOMAXPROCS(0), len(recs)/parallelDecodeMin)
	if workers <= 1 {
		for i, r := range recs {
			its[i], errs[i] = p.cfg.Decode(r)
		}
		return its, errs
	}
	var wg sync.WaitGroup
	per := (len(recs) + workers - 1) / workers
	for lo := 0; lo < len(recs); lo += per {
		hi := min(lo+per, len(recs))
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				its[i], errs[i] = p.cfg.Decode(recs[i])
			}
		})
	}
	wg.Wait()
	return its, errs
}

// parallelDecodeMin is the batch size per extra decoding goroutine.
const parallelDecodeMin = 256

// evict drops the least recently used half of the cache once it is over
// its bound. Only states already written are cached (Project runs after the
// previous batch's inserts), so anything dropped is read back exactly.
func (p *StateProjection[S, E]) evict() {
	if len(p.cache) <= p.cfg.MaxCached {
		return
	}
	gens := make([]uint64, 0, len(p.cache))
	for _, e := range p.cache {
		gens = append(gens, e.gen)
	}
	slices.Sort(gens)
	cut := gens[len(gens)/2]
	for k, e := range p.cache {
		if e.gen < cut || (e.gen == cut && len(p.cache) > p.cfg.MaxCached/2) {
			delete(p.cache, k)
		}
	}
}

// sideRows keeps one row per key in first-emitted order.
type sideRows struct {
	rows [][]any
	at   map[string]int
}

func (s *sideRows) add(key string, row []any) {
	if i, ok := s.at[key]; ok {
		s.rows[i] = row
		return
	}
	s.at[key] = len(s.rows)
	s.rows = append(s.rows, row)
}

// AggregateEvent is a decoded aggregate event with its envelope.
type AggregateEvent struct {
	Env   topics.EventEnvelope
	Event aggregate.Event
}

// decodeEvents returns a Decode for the events of one aggregate type.
func decodeEvents(aggregateType string, decode func(string, json.RawMessage) (aggregate.Event, error)) func(*kgo.Record) (Item[AggregateEvent], error) {
	return func(r *kgo.Record) (Item[AggregateEvent], error) {
		env, err := topics.DecodeEnvelope(r.Value)
		if err != nil {
			return Item[AggregateEvent]{}, fmt.Errorf("undecodable event: %w", err)
		}
		it := Item[AggregateEvent]{Key: env.AggregateID, Version: env.Sequence, AggregateID: env.AggregateID}
		name := fmt.Sprintf("%s/%s#%d", env.AggregateType, env.AggregateID, env.Sequence)
		if env.AggregateType != aggregateType {
			return it, fmt.Errorf("event %s: aggregate type %q on the %s topic", name, env.AggregateType, aggregateType)
		}
		ev, err := decode(env.EventType, env.Payload)
		if err != nil {
			return it, fmt.Errorf("event %s: %w", name, err)
		}
		it.Event = AggregateEvent{Env: env, Event: ev}
		return it, nil
	}
}

// evolve applies ev with the aggregate's Evolve and reports an event the
// lifecycle could not take: one that failed it, or any event on a lifecycle
// that had failed before. The returned lifecycle mirrors the aggregate's
// either way (Failed, with the reason).
func evolve[S any](l aggregate.Lifecycle[S], it Item[AggregateEvent], f func(aggregate.Lifecycle[S], aggregate.Event) aggregate.Lifecycle[S]) (aggregate.Lifecycle[S], error) {
	next := f(l, it.Event.Event)
	name := fmt.Sprintf("event %s/%s#%d %s", it.Event.Env.AggregateType, it.Key, it.Version, it.Event.Env.EventType)
	switch {
	case l.Status == aggregate.Failed:
		return next, fmt.Errorf("%s: aggregate failed earlier (%s); event not applied", name, l.Failure)
	case next.Status == aggregate.Failed:
		return next, fmt.Errorf("%s does not fold: %s", name, next.Failure)
	}
	return next, nil
}
