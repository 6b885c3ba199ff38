package sinks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/hedgeline/hedgeline/processors/sequence"
	"github.com/hedgeline/hedgeline/topics"
)

// Item is one decoded input record: the key its state lives under (an
// aggregate id, or a symbol), its version (the event's sequence) and the
// event.
type Item[E any] struct {
	Key     string
	Version uint64
	// After is the version this item follows in a Linked stream (whose
	// versions skip); nil there for items written before the link existed.
	After *uint64
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
	// Contiguous says a key's versions are 1, 2, 3, ... (aggregate event
	// sequences): events are then applied strictly in order and an event
	// beyond a gap is parked until the missing ones arrive (see package
	// processors/sequence). Without it a key's versions may skip (pnl
	// records carry the sparse position sequence of their fill) and any
	// version above the folded one is applied.
	Contiguous bool
	// Linked, with Contiguous, is for streams whose versions skip (pnl
	// records carry the position sequence of their fill): each item names
	// the version it follows (Item.After) and waits for it; an item without
	// it (an older record) is applied if it is above the version.
	Linked bool

	// Decode reads a record. An error rejects it; nothing is applied. With
	// Contiguous, an Item that names its Key and Version despite the error
	// (an intact envelope around a payload that does not decode) still
	// takes its place in the key's order: a no-op when its turn comes, so
	// the events after it are not parked for ever.
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
// duplicate and skipped. With Contiguous, an event beyond version+1 is
// parked (kept in memory and in parked_events) and applied once the gap
// before it fills, in this batch or a later one.
type StateProjection[S, E any] struct {
	cfg StateConfig[S, E]

	mu     sync.Mutex
	cache  map[string]*entry[S, E]
	gen    uint64
	loaded map[int32]bool // partitions whose open parked events were read back since the last Reset
	now    func() time.Time
}

type entry[S, E any] struct {
	seq    sequence.Sequencer[*pending[E]] // version and parked events
	state  S
	gen    uint64
	exists bool // false: a fresh key, no state yet
	dirty  bool // changed in the batch being projected
	// stored maps each sequence with an open parked_events row to the
	// applied_version written in it.
	stored map[uint64]uint64
}

// clone copies e so that changing the copy leaves e alone.
func (e *entry[S, E]) clone() *entry[S, E] {
	c := *e
	c.seq = e.seq.Clone()
	if e.stored != nil {
		c.stored = maps.Clone(e.stored)
	}
	return &c
}

// pending is an event waiting in (or passing through) a key's sequencer.
type pending[E any] struct {
	rec *kgo.Record
	it  Item[E]
	// bad: the payload did not decode; rejected on arrival, a no-op in turn.
	bad      bool
	parkedAt time.Time
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
	return &StateProjection[S, E]{cfg: cfg, cache: map[string]*entry[S, E]{}, loaded: map[int32]bool{}, now: time.Now}, nil
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
	clear(p.loaded)
}

// Cached reports how many states are in memory (for tests and metrics).
func (p *StateProjection[S, E]) Cached() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.cache)
}

// Project implements Projection. The cache changes only when it succeeds.
func (p *StateProjection[S, E]) Project(ctx context.Context, rd StateReader, tables TableNames, recs []*kgo.Record) (Batch, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gen++
	p.evict()
	stateTable := tables.Of(p.cfg.StateTable.Name)
	now := p.now().UTC()

	b := Batch{Rows: map[string][][]any{}}
	items := make([]*pending[E], 0, len(recs))
	var missing []string
	wanted := map[string]bool{}
	want := func(k string) {
		if _, ok := p.cache[k]; !ok && !wanted[k] {
			wanted[k] = true
			missing = append(missing, k)
		}
	}
	its, errs := p.decodeAll(recs)
	for i, r := range recs {
		it, err := its[i], errs[i]
		if err != nil {
			b.Rejected = append(b.Rejected, Rejected{Record: r, AggregateType: p.cfg.AggregateType, AggregateID: it.AggregateID, Err: err})
			if !p.cfg.Contiguous || it.Key == "" || it.Version == 0 {
				continue
			}
		}
		items = append(items, &pending[E]{rec: r, it: it, bad: err != nil})
		want(it.Key)
	}

	// The open parked events of each partition, read back with its first
	// batch after a Reset (a key lives in one partition): they keep their
	// keys cached (evict spares them), so later batches find them.
	var parked []*pending[E]
	var parkedRows []ParkedEvent
	var parts []int32
	for _, r := range recs {
		if !p.loaded[r.Partition] && !slices.Contains(parts, r.Partition) {
			parts = append(parts, r.Partition)
		}
	}
	if pr, ok := rd.(ParkedReader); ok && p.cfg.Contiguous && len(parts) > 0 {
		rows, err := pr.ReadParked(ctx, stateTable, parts)
		if err != nil {
			return Batch{}, err
		}
		for _, pe := range rows {
			rec := &kgo.Record{Topic: pe.Topic, Partition: pe.Partition, Offset: pe.Offset, Key: pe.Key, Value: pe.Value, Timestamp: pe.EventTime}
			it, err := p.cfg.Decode(rec)
			if it.Key == "" || it.Version == 0 { // cannot happen: it was parked by key and sequence
				it.Key, it.Version = pe.AggregateID, pe.Sequence
			}
			parked = append(parked, &pending[E]{rec: rec, it: it, bad: err != nil, parkedAt: pe.ParkedAt})
			parkedRows = append(parkedRows, pe)
			want(it.Key)
		}
	}

	work := make(map[string]*entry[S, E], len(wanted))
	if len(missing) > 0 {
		stored, err := rd.ReadStates(ctx, stateTable, p.cfg.KeyColumn, p.cfg.VersionColumn, missing)
		if err != nil {
			return Batch{}, err
		}
		for _, k := range missing {
			e := &entry[S, E]{}
			if st, ok := stored[k]; ok {
				if err := json.Unmarshal(st.State, &e.state); err != nil {
					return Batch{}, Permanent(fmt.Errorf("state of %q in %s does not decode: %w", k, stateTable, err))
				}
				e.seq, e.exists = sequence.New[*pending[E]](st.Version), true
			}
			work[k] = e
		}
	}
	get := func(k string) *entry[S, E] {
		e, ok := work[k]
		if !ok {
			e = p.cache[k].clone()
			work[k] = e
		}
		return e
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
	apply := func(e *entry[S, E], d *pending[E]) {
		if !e.dirty {
			e.dirty = true
			order = append(order, d.it.Key)
		}
		if d.bad {
			return // rejected when it arrived; it only fills its place
		}
		s, err := p.cfg.Apply(e.state, !e.exists, d.it, emit)
		e.state, e.exists = s, true
		if err != nil {
			b.Rejected = append(b.Rejected, Rejected{Record: d.rec, AggregateType: p.cfg.AggregateType, AggregateID: d.it.AggregateID, Err: err})
		}
	}
	offer := func(d *pending[E]) {
		e := get(d.it.Key)
		if !p.cfg.Contiguous {
			if e.exists && d.it.Version <= e.seq.Version() {
				b.Duplicates++ // applied before: a redelivery or a re-published event
				return
			}
			e.seq = sequence.New[*pending[E]](d.it.Version)
			apply(e, d)
			return
		}
		after := d.it.Version - 1
		switch {
		case p.cfg.Linked && d.it.After != nil:
			after = *d.it.After
		case p.cfg.Linked:
			after = e.seq.Version()
		}
		v, run := e.seq.OfferAfter(after, d.it.Version, d)
		switch v {
		case sequence.Duplicate:
			b.Duplicates++
		case sequence.Park:
			if d.parkedAt.IsZero() {
				d.parkedAt = now
				b.Parked++
			}
		case sequence.Apply:
			apply(e, d)
			for _, r := range run {
				apply(e, r)
			}
			b.Unparked += len(run)
		}
	}
	for i, d := range parked {
		e := get(d.it.Key)
		if e.stored == nil {
			e.stored = map[uint64]uint64{}
		}
		e.stored[d.it.Version] = parkedRows[i].AppliedVersion
		offer(d)
	}
	for _, d := range items {
		offer(d)
	}

	for _, t := range p.cfg.SideTables {
		if s := side[t.Name]; s != nil {
			b.Rows[t.Name] = s.rows
		}
	}
	for _, k := range order {
		e := work[k]
		if !e.exists {
			continue // only placeholders of undecodable events: no state to write
		}
		js, err := json.Marshal(e.state)
		if err != nil {
			return Batch{}, Permanent(fmt.Errorf("encode state of %q: %w", k, err))
		}
		b.Rows[p.cfg.StateTable.Name] = append(b.Rows[p.cfg.StateTable.Name], p.cfg.Row(k, e.seq.Version(), e.state, string(js)))
	}
	b.Park = p.syncParked(stateTable, work)

	for k, e := range work {
		e.dirty, e.gen = false, p.gen
		p.cache[k] = e
	}
	for _, part := range parts {
		p.loaded[part] = true
	}
	return b, nil
}

// syncParked returns the parked_events rows that bring the table in line
// with the keys' sequencers: an open row for each parked event not written
// yet or written with an older applied version, a consumed row for each
// written one that was applied (or found to be a duplicate). It updates
// each entry's stored map to match.
func (p *StateProjection[S, E]) syncParked(stateTable string, work map[string]*entry[S, E]) [][]any {
	var rows [][]any
	keys := make([]string, 0)
	for k, e := range work {
		if e.seq.Len() > 0 || len(e.stored) > 0 {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		e := work[k]
		version := e.seq.Version()
		for _, seq := range slices.Sorted(maps.Keys(e.stored)) {
			if _, open := e.seq.Get(seq); !open {
				rows = append(rows, parkedRow(stateTable, ParkedEvent{
					AggregateID: k, Sequence: seq, AppliedVersion: max(version, seq), Topic: p.cfg.Topic,
				}, true))
				delete(e.stored, seq)
			}
		}
		for _, seq := range e.seq.Parked() {
			if av, ok := e.stored[seq]; ok && av == version {
				continue
			}
			d, _ := e.seq.Get(seq)
			rows = append(rows, parkedRow(stateTable, ParkedEvent{
				AggregateID: k, Sequence: seq, AppliedVersion: version, Topic: d.rec.Topic,
				Partition: d.rec.Partition, Offset: d.rec.Offset, Key: d.rec.Key, Value: d.rec.Value,
				EventTime: d.rec.Timestamp, ParkedAt: d.parkedAt,
			}, false))
			if e.stored == nil {
				e.stored = map[uint64]uint64{}
			}
			e.stored[seq] = version
		}
	}
	return rows
}

// Gaps implements GapReporter: the cached keys with parked events (all of
// those of the partitions projected since the last Reset: parked keys are
// read back with a partition's first batch and never evicted).
func (p *StateProjection[S, E]) Gaps() []Gap {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Gap
	for k, e := range p.cache {
		if e.seq.Len() == 0 {
			continue
		}
		g := Gap{Topic: p.cfg.Topic, AggregateID: k, Version: e.seq.Version(), Missing: e.seq.Missing(), Parked: e.seq.Len()}
		for _, seq := range e.seq.Parked() {
			if d, _ := e.seq.Get(seq); g.Since.IsZero() || d.parkedAt.Before(g.Since) {
				g.Since = d.parkedAt
			}
		}
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b Gap) int { return strings.Compare(a.AggregateID, b.AggregateID) })
	return out
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
		if e.seq.Len() > 0 {
			continue // parked events stay in memory (see Gaps)
		}
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
			it.Key = "" // not one of this topic's aggregates: it takes no place in an order
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
