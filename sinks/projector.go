package sinks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hedgeline/hedgeline/internal/kafkasec"
	"github.com/hedgeline/hedgeline/topics"
)

// Table is one ClickHouse table a projection writes: its logical name (the
// physical one may carry a suffix, see TableNames) and the columns of its
// rows, in order.
type Table struct {
	Name    string
	Columns []string
}

// TableNames maps a logical table name to the physical table written,
// e.g. "position_view" -> "position_view_replay" for a replay's shadow.
type TableNames map[string]string

// Of returns the physical name of a logical table (itself if unmapped).
func (n TableNames) Of(table string) string {
	if p, ok := n[table]; ok {
		return p
	}
	return table
}

// StoredState is one key's row in a state table: the version (sequence) of
// the last event folded into it and the JSON of the folded state.
type StoredState struct {
	Version uint64
	State   []byte
}

// StateReader reads folded states back from ClickHouse, for keys a
// projection has not cached (after a start, a rebalance or an eviction).
type StateReader interface {
	// ReadStates returns the newest row (FINAL) of each key found in table;
	// keys without a row are absent from the map.
	ReadStates(ctx context.Context, table, keyColumn, versionColumn string, keys []string) (map[string]StoredState, error)
}

// Rejected is an input record a projection could not apply.
type Rejected struct {
	Record        *kgo.Record
	AggregateType string // required by topics.Rejection
	AggregateID   string // "" when the record was undecodable
	Err           error
}

// Batch is what a projection makes of the records of one partition: rows
// per logical table, each row in Table.Columns order, and the records it
// rejected.
type Batch struct {
	Rows     map[string][][]any
	Rejected []Rejected
	// Park are parked_events rows (ParkedTable.Columns order), inserted
	// after every table of the projection: events newly parked beyond a
	// gap, and parked ones now applied (consumed).
	Park [][]any
	// Duplicates counts records skipped as applied (or parked) before,
	// Parked the records parked by this batch, Unparked the parked events
	// it applied.
	Duplicates, Parked, Unparked int
}

// Projection turns the records of one topic into rows. A projection value
// serves one Projector at a time.
//
// Tables lists every table written, in insert order. A projection that
// folds state must list the table it reads its state back from LAST: the
// projector inserts in this order and commits offsets only after the last
// insert, so a crash in between leaves the state table behind the other
// tables, and the redelivered records are folded (and their side rows
// re-emitted) again. The other order would skip them as applied and lose
// the side rows. Batch.Park rows (parked_events) go in after all of them.
type Projection interface {
	Name() string
	Topic() string
	Tables() []Table
	// Project folds one partition's records (offset order). An error is an
	// infrastructure fault (reading state failed): the projector calls Reset
	// and retries the same records. A record that cannot be applied is not
	// an error but a Rejected entry.
	Project(ctx context.Context, rd StateReader, tables TableNames, recs []*kgo.Record) (Batch, error)
	// Reset drops cached state: after a rebalance another consumer may have
	// moved it on.
	Reset()
}

// Options tune a Projector. The zero value is usable.
type Options struct {
	// Group is the Kafka consumer group (default "sink-" + projection name).
	Group string
	// TableSuffix is appended to every table name, e.g. "_replay" to
	// rebuild into shadow tables (see CreateShadow and SwapShadow).
	TableSuffix string
	// MaxBatch caps the records of one poll (default 10000).
	MaxBatch int
	// BackoffMax caps the wait between retries of a failed insert (default
	// 30 s; the first wait is 100 ms, doubling).
	BackoffMax time.Duration
	// Logger receives retries, rejections and commit problems (default
	// slog.Default()).
	Logger *slog.Logger
	// OnBatch, if set, is called after each poll's offsets are committed.
	OnBatch func(BatchInfo)
	// KafkaOpts are appended to the client options (tests shorten the
	// group timeouts).
	KafkaOpts []kgo.Opt
	// GapWarnEvery is how often the open gaps of a projection that reports
	// them (GapReporter) are logged as warnings, one per aggregate, while
	// any is open (default 1 minute; the first warning comes with the batch
	// that opened the gap).
	GapWarnEvery time.Duration
}

// DefaultGroup is the consumer group of a projection's projector when
// Options.Group is empty.
func DefaultGroup(projection string) string { return "sink-" + projection }

// BatchInfo describes one committed poll.
type BatchInfo struct {
	Projection string
	Records    int
	Rows       map[string]int // physical table -> rows inserted
	Rejected   int
	// Duplicates, Parked and Unparked are the Batch counts, summed.
	Duplicates, Parked, Unparked int
	// CommitTo is, per partition, the offset committed: the next record
	// the group will read.
	CommitTo map[int32]int64
	Retries  int
	Duration time.Duration
}

// Stats are a projector's running totals.
type Stats struct {
	Batches, Records, Rows, Rejected, Retries, CommitErrors uint64
	// Duplicates: records skipped as applied before; Parked: records held
	// beyond a gap; Unparked: parked events applied once the gap filled.
	Duplicates, Parked, Unparked uint64
}

const (
	defaultMaxBatch   = 10000
	defaultBackoffMax = 30 * time.Second
	defaultGapWarn    = time.Minute
	backoffMin        = 100 * time.Millisecond
)

// Projector consumes one projection's topic and writes its tables.
type Projector struct {
	w     Writer
	kafka kafkasec.Cluster
	p     Projection
	opts  Options
	names TableNames
	log   *slog.Logger

	needReset atomic.Bool
	running   sync.Mutex
	// lastGapWarn is when open gaps were last logged; gapsWarned the
	// aggregates with a gap then.
	lastGapWarn time.Time
	gapsWarned  map[string]bool

	batches, records, rows, rejected, retries, commitErrs atomic.Uint64
	duplicates, parked, unparked                          atomic.Uint64
}

// NewProjector prepares a projector writing through w (a *DB, or a
// wrapper of one); Run starts it. The tables must exist (Migrate, or
// CreateShadow for a suffix).
func NewProjector(w Writer, k kafkasec.Cluster, p Projection, opts Options) (*Projector, error) {
	var errs []error
	if w == nil {
		errs = append(errs, errors.New("no ClickHouse writer"))
	}
	if len(k.Seeds) == 0 {
		errs = append(errs, errors.New("no Kafka brokers"))
	}
	if p == nil {
		errs = append(errs, errors.New("no projection"))
	}
	if opts.MaxBatch < 0 || opts.BackoffMax < 0 || opts.GapWarnEvery < 0 {
		errs = append(errs, errors.New("MaxBatch, BackoffMax and GapWarnEvery must not be negative"))
	}
	if opts.TableSuffix != "" && !identRE.MatchString("x"+opts.TableSuffix) {
		errs = append(errs, fmt.Errorf("table suffix %q: want letters, digits and '_'", opts.TableSuffix))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("sinks: new projector: %w", err)
	}
	if opts.Group == "" {
		opts.Group = DefaultGroup(p.Name())
	}
	if opts.MaxBatch == 0 {
		opts.MaxBatch = defaultMaxBatch
	}
	if opts.BackoffMax == 0 {
		opts.BackoffMax = defaultBackoffMax
	}
	if opts.GapWarnEvery == 0 {
		opts.GapWarnEvery = defaultGapWarn
	}
	if opts.BackoffMax < backoffMin {
		opts.BackoffMax = backoffMin
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	names := TableNames{}
	for _, t := range p.Tables() {
		names[t.Name] = t.Name + opts.TableSuffix
	}
	return &Projector{
		w: w, kafka: k, p: p, opts: opts, names: names,
		log: log.With("projection", p.Name(), "group", opts.Group),
	}, nil
}

// Stats returns the running totals.
func (pr *Projector) Stats() Stats {
	return Stats{
		Batches: pr.batches.Load(), Records: pr.records.Load(), Rows: pr.rows.Load(),
		Rejected: pr.rejected.Load(), Retries: pr.retries.Load(), CommitErrors: pr.commitErrs.Load(),
		Duplicates: pr.duplicates.Load(), Parked: pr.parked.Load(), Unparked: pr.unparked.Load(),
	}
}

// Run consumes until ctx is done and returns nil then; it returns an error
// only for a failure retrying cannot fix. Per poll and partition it
// projects the records, produces rejections to projection.rejections,
// inserts each table's rows (one INSERT per table, with an
// insert_deduplication_token naming the table, topic, partition and offset
// range), and after all partitions commits the offsets. Every step is
// retried with exponential backoff until it succeeds: a batch is never
// skipped and the consumer never polls ahead while ClickHouse is down.
func (pr *Projector) Run(ctx context.Context) error {
	if !pr.running.TryLock() {
		return errors.New("sinks: projector is already running")
	}
	defer pr.running.Unlock()

	onChange := func(_ context.Context, _ *kgo.Client, _ map[string][]int32) { pr.needReset.Store(true) }
	opts := topics.ClientOpts(pr.kafka,
		kgo.ConsumerGroup(pr.opts.Group),
		kgo.ConsumeTopics(pr.p.Topic()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(250*time.Millisecond),
		kgo.OnPartitionsAssigned(onChange),
		kgo.OnPartitionsRevoked(onChange),
		kgo.OnPartitionsLost(onChange),
	)
	opts = append(opts, pr.opts.KafkaOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("sinks: %s: kafka client: %w", pr.p.Name(), err)
	}
	defer func() {
		// With BlockRebalanceOnPoll, leaving the group waits for the
		// rebalance a poll may still be blocking.
		cl.AllowRebalance()
		cl.Close()
	}()
	pr.p.Reset()
	defer pr.p.Reset()       // anything cached past the last commit is unconfirmed
	pr.needReset.Store(true) // and sync the replicas before the first batch

	for {
		fetches := cl.PollRecords(ctx, pr.opts.MaxBatch)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return nil
		}
		failed := false
		fetches.EachError(func(topic string, part int32, err error) {
			if !errors.Is(err, context.Canceled) {
				failed = true
				pr.log.Warn("fetch error", "topic", topic, "partition", part, "err", err)
			}
		})
		recs := fetches.Records()
		pr.warnGaps(false)
		if len(recs) == 0 {
			cl.AllowRebalance()
			if failed { // e.g. the topic does not exist: do not spin
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
			continue
		}
		err := pr.process(ctx, cl, recs)
		cl.AllowRebalance()
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			return err
		}
	}
}

// process handles one poll; its records stay uncommitted unless it returns
// nil.
func (pr *Projector) process(ctx context.Context, cl *kgo.Client, recs []*kgo.Record) error {
	start := time.Now()
	if pr.needReset.Swap(false) {
		pr.p.Reset()
		// The state of a partition may have been written by another
		// instance, through another replica of a cluster.
		tables := []string{ParkedTable.Name}
		for _, t := range pr.p.Tables() {
			tables = append(tables, pr.names.Of(t.Name))
		}
		if _, err := pr.retry(ctx, "sync replicas", func() error { return pr.w.SyncReplicas(ctx, tables) }); err != nil {
			pr.needReset.Store(true)
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
	byPart := map[int32][]*kgo.Record{}
	for _, r := range recs {
		byPart[r.Partition] = append(byPart[r.Partition], r)
	}
	parts := make([]int32, 0, len(byPart))
	for p := range byPart {
		parts = append(parts, p)
	}
	slices.Sort(parts)

	info := BatchInfo{Projection: pr.p.Name(), Records: len(recs), Rows: map[string]int{}, CommitTo: map[int32]int64{}}
	last := make([]*kgo.Record, 0, len(parts))
	for _, part := range parts {
		prs := byPart[part]
		rows, rejected, counts, retries, err := pr.processPartition(ctx, cl, prs)
		info.Retries += retries
		if err != nil {
			return err
		}
		for t, n := range rows {
			info.Rows[t] += n
		}
		info.Rejected += rejected
		info.Duplicates += counts.Duplicates
		info.Parked += counts.Parked
		info.Unparked += counts.Unparked
		lr := prs[len(prs)-1]
		last = append(last, lr)
		info.CommitTo[part] = lr.Offset + 1
	}

	if err := cl.CommitRecords(ctx, last...); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		// Typically a rebalance took the partitions away while the batch was
		// retried. The rows are in ClickHouse; the new owner re-reads the
		// records from the last commit and they collapse. Our cache may be
		// stale now.
		pr.commitErrs.Add(1)
		pr.p.Reset()
		pr.log.Warn("commit failed; records will be redelivered", "err", err)
		return nil
	}
	pr.batches.Add(1)
	pr.records.Add(uint64(len(recs)))
	for _, n := range info.Rows {
		pr.rows.Add(uint64(n))
	}
	pr.rejected.Add(uint64(info.Rejected))
	pr.duplicates.Add(uint64(info.Duplicates))
	pr.parked.Add(uint64(info.Parked))
	pr.unparked.Add(uint64(info.Unparked))
	pr.warnGaps(info.Parked > 0 || info.Unparked > 0)
	info.Duration = time.Since(start)
	if pr.opts.OnBatch != nil {
		pr.opts.OnBatch(info)
	}
	return nil
}

func (pr *Projector) processPartition(ctx context.Context, cl *kgo.Client, recs []*kgo.Record) (rows map[string]int, rejected int, counts Batch, retries int, err error) {
	first, last := recs[0], recs[len(recs)-1]
	where := fmt.Sprintf("%s/%d/%d-%d", first.Topic, first.Partition, first.Offset, last.Offset)
	rows = map[string]int{}

	var b Batch
	n, err := pr.retry(ctx, "project "+where, func() error {
		var err error
		b, err = pr.p.Project(ctx, pr.w, pr.names, recs)
		if err != nil {
			pr.p.Reset() // a failed Project may have cached part of the batch
		}
		return err
	})
	retries += n
	if err != nil {
		return rows, 0, counts, retries, err
	}

	// Rejections first: a fold failure is recorded in the state row, so a
	// redelivery after the state insert would not reject the event again.
	if len(b.Rejected) > 0 {
		out, err := pr.rejections(b.Rejected)
		if err != nil {
			return rows, 0, counts, retries, Permanent(err)
		}
		n, err := pr.retry(ctx, "produce rejections of "+where, func() error {
			return cl.ProduceSync(ctx, out...).FirstErr()
		})
		retries += n
		if err != nil {
			return rows, 0, counts, retries, err
		}
		for _, r := range b.Rejected {
			pr.log.Warn("rejected record", "topic", r.Record.Topic, "partition", r.Record.Partition,
				"offset", r.Record.Offset, "aggregate_id", r.AggregateID, "err", r.Err)
		}
	}

	for _, t := range pr.p.Tables() {
		tr := b.Rows[t.Name]
		if len(tr) == 0 {
			continue
		}
		phys := pr.names.Of(t.Name)
		token := phys + "/" + where
		n, err := pr.retry(ctx, "insert "+token, func() error {
			return pr.w.Insert(ctx, phys, t.Columns, tr, token)
		})
		retries += n
		if err != nil {
			return rows, 0, counts, retries, err
		}
		rows[phys] += len(tr)
	}
	// Parked rows last: a consumed mark must not land before the state row
	// that applied the event (a crash in between would lose the event).
	if len(b.Park) > 0 {
		token := ParkedTable.Name + "/" + pr.names.Of(pr.stateTable()) + "/" + where
		n, err := pr.retry(ctx, "insert "+token, func() error {
			return pr.w.Insert(ctx, ParkedTable.Name, ParkedTable.Columns, b.Park, token)
		})
		retries += n
		if err != nil {
			return rows, 0, counts, retries, err
		}
		rows[ParkedTable.Name] += len(b.Park)
	}
	counts = Batch{Duplicates: b.Duplicates, Parked: b.Parked, Unparked: b.Unparked}
	return rows, len(b.Rejected), counts, retries, nil
}

// stateTable is the logical name of the projection's last table (its
// state table, see Projection).
func (pr *Projector) stateTable() string {
	ts := pr.p.Tables()
	return ts[len(ts)-1].Name
}

// warnGaps logs every open gap of the projection, if it reports them, when
// GapWarnEvery has passed since the last time or (now) a batch parked or
// unparked events; a gap that closed since the last warning is logged once
// as closed.
func (pr *Projector) warnGaps(now bool) {
	gr, ok := pr.p.(GapReporter)
	if !ok || (!now && time.Since(pr.lastGapWarn) < pr.opts.GapWarnEvery) {
		return
	}
	pr.lastGapWarn = time.Now()
	gaps := gr.Gaps()
	open := map[string]bool{}
	for _, g := range gaps {
		open[g.AggregateID] = true
		missing := make([]string, len(g.Missing))
		for i, r := range g.Missing {
			missing[i] = r.String()
		}
		pr.log.Warn("events missing: later events of the aggregate are parked until they arrive",
			"topic", g.Topic, "aggregate_id", g.AggregateID, "applied_version", g.Version,
			"missing", strings.Join(missing, ","), "parked", g.Parked,
			"open_for", time.Since(g.Since).Round(time.Second).String(), "open_since", g.Since)
	}
	for id := range pr.gapsWarned {
		if !open[id] {
			pr.log.Info("gap closed: parked events applied", "topic", pr.p.Topic(), "aggregate_id", id)
		}
	}
	pr.gapsWarned = open
}

// rejections builds the records for projection.rejections.
func (pr *Projector) rejections(rs []Rejected) ([]*kgo.Record, error) {
	out := make([]*kgo.Record, 0, len(rs))
	for _, r := range rs {
		rec := r.Record
		typ := r.AggregateType
		if typ == "" {
			typ = "Unknown"
		}
		rej := topics.Rejection{
			AggregateType: typ,
			AggregateID:   r.AggregateID,
			Reason: fmt.Sprintf("projection %s: %s/%d@%d: %v",
				pr.p.Name(), rec.Topic, rec.Partition, rec.Offset, r.Err),
			Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset,
			// The record's own timestamp, not the clock: a replay that
			// rejects the same record writes the same rejection.
			RejectedAt: rec.Timestamp.UTC(),
		}
		if rej.RejectedAt.IsZero() || rej.RejectedAt.Year() < 1 {
			rej.RejectedAt = time.Unix(0, 0).UTC()
		}
		rej.SetOriginal(rec.Value)
		b, err := topics.EncodeRejection(rej)
		if err != nil {
			return nil, fmt.Errorf("encode rejection of %s/%d@%d: %w", rec.Topic, rec.Partition, rec.Offset, err)
		}
		out = append(out, &kgo.Record{Topic: topics.ProjectionRejections, Key: rec.Key, Value: b})
	}
	return out, nil
}

// retry runs fn until it succeeds, ctx is done or it fails permanently,
// waiting 100 ms, 200 ms, ... up to BackoffMax between attempts and logging
// each retry. It returns the number of retries.
func (pr *Projector) retry(ctx context.Context, what string, fn func() error) (int, error) {
	delay := backoffMin
	for attempt := 0; ; attempt++ {
		err := fn()
		if err == nil {
			return attempt, nil
		}
		if ctx.Err() != nil {
			return attempt, ctx.Err()
		}
		if IsPermanent(err) {
			return attempt, fmt.Errorf("sinks: %s: %s: %w", pr.p.Name(), what, err)
		}
		pr.retries.Add(1)
		pr.log.Warn("retrying", "what", what, "attempt", attempt+1, "backoff", delay, "err", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return attempt, ctx.Err()
		case <-t.C:
		}
		delay = min(2*delay, pr.opts.BackoffMax)
	}
}
