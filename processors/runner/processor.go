package runner

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hedgeline/hedgeline/topics"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
)

// Stage is one goka group: an input topic, a handler, the topics it emits
// to, and a group table of per-key records.
type Stage[S any] struct {
	Group   string
	Input   string
	Outputs []string
	Handle  Handler[S]
	// Reject turns an input the runner refuses before the handler sees it
	// (a key on the wrong partition) into a rejection record; its topic
	// must be one of Outputs.
	Reject func(in Input, reason error) (Output, error)
	// Admit, if set, is called before an input is handled and may block:
	// flow control, so a stage does not run ahead of its consumers.
	Admit func(ctx context.Context, in Input)
	// OnAssign is told the partitions this instance owns after a rebalance.
	OnAssign func(partitions []int32)
}

// Processor is a running stage. A failure Config.Retry accepts (a full
// disk) stops only this stage, which starts again after a backoff.
type Processor struct {
	name  string
	dups  *atomic.Int64
	build func() (*goka.Processor, error)
	retry func(error) (string, bool)
	log   *slog.Logger

	mu  sync.Mutex
	cur *instance
}

// instance is one goka processor of the stage; done closes when its Run
// returned.
type instance struct {
	proc *goka.Processor
	done chan struct{}
}

// Restart backoff of a failed stage: 2 s, 4 s, ... 1 min, back to 2 s once
// a run lasted longer than the cap.
const (
	retryMin = 2 * time.Second
	retryMax = time.Minute
)

// Duplicates counts the inputs dropped as repeats of applied ones.
func (p *Processor) Duplicates() int64 { return p.dups.Load() }

// Build wires a stage into a goka processor.
func Build[S any](st Stage[S], cfg Config) (*Processor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("stage %s: %w", st.Group, err)
	}
	if st.Input == "" || st.Reject == nil {
		return nil, fmt.Errorf("stage %s: needs an input topic and a Reject func", st.Group)
	}
	dups := new(atomic.Int64)
	log := cfg.logger().With("group", st.Group)
	hasher := cfg.Hasher
	if hasher == nil {
		hasher = goka.DefaultHasher()
	}
	// dropped counts and logs a duplicate input (not an error).
	dropped := func(err error) error {
		if !errors.Is(err, ErrDuplicate) {
			return err
		}
		n := dups.Add(1)
		log.Debug("duplicate input dropped", "reason", err)
		if n&(n-1) == 0 || n%1000 == 0 { // 1, 2, 4, ... then every 1000th
			log.Info("repeated inputs dropped as duplicates", "total", n, "last", err)
		}
		return nil
	}
	// Every goka processor of the stage (one per start) gets its own marks:
	// they track the inputs of that processor's partitions.
	build := func() (*goka.Processor, error) {
		marks, f, cache := newMarks(), new(fence), newStateCache[S]()
		return goka.NewProcessor(cfg.Kafka.Seeds, defineGroup(st, cfg, marks, f, cache, hasher, log, dropped), processorOptions(st, cfg, marks, f, cache, hasher, log)...)
	}
	proc, err := build()
	if err != nil {
		return nil, fmt.Errorf("stage %s: new processor: %w", st.Group, err)
	}
	return &Processor{name: st.Group, dups: dups, build: build, retry: cfg.Retry, log: log,
		cur: &instance{proc: proc, done: make(chan struct{})}}, nil
}

// defineGroup is the stage's goka group graph, its callback using marks.
func defineGroup[S any](st Stage[S], cfg Config, marks *marks, f *fence, cache *stateCache[S], hasher func() hash.Hash32, log *slog.Logger, dropped func(error) error) *goka.GroupGraph {
	cb := func(ctx goka.Context, msg any) {
		// After a failed write nothing more is handled (fence.go); a
		// failure in this callback (ctx.Fail panics) closes the fence too.
		if err := f.check(); err != nil {
			ctx.Fail(err)
		}
		defer func() {
			if r := recover(); r != nil {
				err, ok := r.(error)
				if !ok {
					err = fmt.Errorf("%v", r)
				}
				f.fail(err)
				panic(r)
			}
		}()
		in := Input{
			Topic: string(ctx.Topic()), Key: ctx.Key(), Partition: ctx.Partition(),
			Offset: ctx.Offset(), Timestamp: ctx.Timestamp(),
		}
		if msg != nil {
			in.Value = msg.([]byte)
		}
		at := tp{in.Topic, in.Partition}
		if want := topics.PartitionWith(hasher, []byte(in.Key), cfg.Partitions); want != in.Partition {
			// Refused before any state is read or written: this key's
			// state lives in partition want.
			marks.begin(at, in.Offset)
			o, err := st.Reject(in, withKind(KindWrongPartition, fmt.Errorf("key %q belongs to partition %d of %d, not %d: produced with a partitioner other than goka's FNV-1a (see docs/producing.md)",
				in.Key, want, cfg.Partitions, in.Partition)))
			if err != nil {
				ctx.Fail(err)
			}
			log.Warn("input on the wrong partition rejected", "topic", in.Topic, "partition", in.Partition, "offset", in.Offset, "key", in.Key, "want", want)
			emit(ctx, []Output{o})
			if cfg.Observer != nil {
				cfg.Observer.Handled(st.Group, in, []Output{o})
			}
			return
		}
		if st.Admit != nil {
			st.Admit(ctx.Context(), in)
		}
		// A hot key's record comes from the cache (cache.go), others from
		// the table.
		raw, cached := cache.record(in.Key)
		if !cached {
			if v := ctx.Value(); v != nil {
				raw = v.([]byte)
			}
		}
		// A key keeps the outputs of its unacknowledged inputs in its
		// record; bound them (Tuning.MaxPending) by waiting for the acks.
		if target, wait := durableTarget(raw, in.Offset, cfg.Tuning.maxPending()); wait {
			// goka reports a failed write only between two inputs, never
			// to one that waits: an earlier input whose write failed is
			// never marked, and without the fence this one waited for it
			// forever (the stage neither handled nor restarted).
			marks.waitDurable(ctx.Context(), f.done(), at, target)
			if err := f.check(); err != nil {
				ctx.Fail(err)
			}
		}
		marks.begin(at, in.Offset)
		newRaw, out, redelivered, err := stepCached(st.Handle, cache, raw, in, marks.marked(at))
		if err = dropped(err); err != nil {
			ctx.Fail(err)
		}
		if redelivered {
			log.Debug("redelivered input: re-emitting its recorded outputs", "topic", in.Topic, "partition", in.Partition, "offset", in.Offset, "outputs", len(out))
		}
		if newRaw != nil {
			ctx.SetValue(newRaw)
		}
		emit(ctx, out)
		if cfg.Observer != nil && !redelivered && err == nil {
			cfg.Observer.Handled(st.Group, in, out)
		}
	}

	edges := []goka.Edge{goka.Input(goka.Stream(st.Input), new(codec.Bytes), cb)}
	for _, o := range st.Outputs {
		edges = append(edges, goka.Output(goka.Stream(o), new(codec.Bytes)))
	}
	edges = append(edges, goka.Persist(new(codec.Bytes)))
	return goka.DefineGroup(goka.Group(st.Group), edges...)
}

func processorOptions[S any](st Stage[S], cfg Config, marks *marks, f *fence, cache *stateCache[S], hasher func() hash.Hash32, log *slog.Logger) []goka.ProcessorOption {
	sc := cfg.Sarama()
	opts := []goka.ProcessorOption{
		goka.WithConsumerGroupBuilder(marks.consumerGroupBuilder(sc, st.Input)),
		goka.WithConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(sc)),
		goka.WithProducerBuilder(f.producerBuilder(goka.ProducerBuilderWithConfig(sc))),
		goka.WithTopicManagerBuilder(goka.TopicManagerBuilderWithConfig(sc, cfg.topicManagerConfig())),
		goka.WithLogger(gokaLogger{log}),
		goka.WithHasher(hasher),
		// A tombstone (nil value) on an input is a record like any other:
		// the handler rejects it with its reason instead of goka dropping
		// it unseen, and every input passes through marks.begin.
		goka.WithNilHandling(goka.NilProcess),
	}
	opts = append(opts, goka.WithStorageBuilder(cfg.StorageBuilder(st.Group)))
	opts = append(opts, goka.WithRebalanceCallback(func(a goka.Assignment) {
		cache.clear()
		if st.OnAssign == nil {
			return
		}
		parts := make([]int32, 0, len(a))
		for p := range a {
			parts = append(parts, p)
		}
		st.OnAssign(parts)
	}))
	return opts
}

func emit(ctx goka.Context, out []Output) {
	for _, o := range out {
		ctx.Emit(goka.Stream(o.Topic), o.Key, o.Value)
	}
}

// Run processes until ctx ends or the stage fails for good. A failure
// Config.Retry accepts is logged with its reason, and the stage starts
// again (a new goka processor: its tables reopened and recovered, its
// uncommitted inputs redelivered) after a backoff; the rest of the process
// keeps running meanwhile.
func (p *Processor) Run(ctx context.Context) error {
	delay, restarts := retryMin, 0
	for {
		in := p.current()
		start := time.Now()
		err := in.proc.Run(ctx)
		close(in.done)
		if ctx.Err() != nil || err == nil || errors.Is(err, context.Canceled) {
			return nil
		}
		err = fmt.Errorf("stage %s: %w", p.name, err)
		why, ok := "", false
		if p.retry != nil {
			why, ok = p.retry(err)
		}
		if !ok {
			return err
		}
		if time.Since(start) > retryMax {
			delay = retryMin
		}
		for {
			restarts++
			p.log.Error("stage stopped; restarting it after a backoff", "why", why, "restart", restarts, "retry_in", delay, "err", firstLines(err, 6))
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(delay):
			}
			delay = min(2*delay, retryMax)
			proc, berr := p.build()
			if berr == nil {
				in := &instance{proc: proc, done: make(chan struct{})}
				p.set(in)
				go p.logRecovered(ctx, in, restarts)
				break
			}
			err = fmt.Errorf("stage %s: new processor: %w", p.name, berr)
			if why, ok = p.retry(err); !ok {
				return err
			}
		}
	}
}

// logRecovered says when the restarted instance in is ready.
func (p *Processor) logRecovered(ctx context.Context, in *instance, restarts int) {
	if in.ready(ctx) {
		p.log.Warn("stage running again", "restarts", restarts)
	}
}

// ready waits until in is ready (true) or stopped or ctx ended (false).
// goka's WaitForReady also returns once the processor stopped, and in the
// moment before its Run returns: its state must say running too.
func (in *instance) ready(ctx context.Context) bool {
	for {
		if in.proc.WaitForReadyContext(ctx) != nil {
			return false
		}
		select {
		case <-in.done:
			return false
		default:
		}
		if in.proc.Recovered() {
			return true
		}
		select { // stopping or rebalancing: look again
		case <-in.done:
			return false
		case <-ctx.Done():
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (p *Processor) current() *instance {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cur
}

func (p *Processor) set(in *instance) {
	p.mu.Lock()
	p.cur = in
	p.mu.Unlock()
}

// firstLines keeps an error's first n lines: goka joins the same failure
// of every message in flight into one error of hundreds of lines.
func firstLines(err error, n int) string {
	lines := strings.SplitN(err.Error(), "\n", n+1)
	if len(lines) > n {
		lines[n] = "..."
	}
	return strings.Join(lines, "\n")
}

// WaitReady blocks until the processor has recovered its tables and runs
// (a stage restarting after a failure: until its next start is ready).
func (p *Processor) WaitReady(ctx context.Context) error {
	for {
		in := p.current()
		if in.ready(ctx) {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		for p.current() == in { // stopped: wait for the next start
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

// Name is the stage's group.
func (p *Processor) Name() string { return p.name }

// Goka exposes the underlying processor (for Get in tests and views).
func (p *Processor) Goka() *goka.Processor { return p.current().proc }
