package runner

import (
	"context"
	"errors"
	"fmt"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
)

// Stage is one goka group: an input topic, a handler, the topics it emits
// to, and (unless Stateless) a group table of per-key records.
type Stage[S any] struct {
	Group   string
	Input   string
	Outputs []string
	Handle  Handler[S]
	// Stateless stages keep no table: a redelivered input is handled again,
	// which re-emits the same outputs because handlers are deterministic.
	Stateless bool
	// OnAssign is told the partitions this instance owns after a rebalance.
	OnAssign func(partitions []int32)
}

// Processor is a running stage.
type Processor struct {
	name string
	proc *goka.Processor
}

// Build wires a stage into a goka processor.
func Build[S any](st Stage[S], cfg Config) (*Processor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("stage %s: %w", st.Group, err)
	}
	marks := newMarks()
	log := cfg.logger().With("group", st.Group)
	cb := func(ctx goka.Context, msg any) {
		in := Input{
			Topic: string(ctx.Topic()), Key: ctx.Key(), Partition: ctx.Partition(),
			Offset: ctx.Offset(), Timestamp: ctx.Timestamp(),
		}
		if msg != nil {
			in.Value = msg.([]byte)
		}
		if st.Stateless {
			_, out, err := st.Handle(*new(S), in)
			if err != nil {
				ctx.Fail(err)
			}
			emit(ctx, out)
			return
		}
		var raw []byte
		if v := ctx.Value(); v != nil {
			raw = v.([]byte)
		}
		// A key keeps the outputs of its unacknowledged inputs in its
		// record; bound them (Tuning.MaxPending) by waiting for the acks.
		if target, wait := durableTarget(raw, in.Offset, cfg.Tuning.maxPending()); wait {
			marks.waitDurable(ctx.Context(), in.Partition, target)
		}
		newRaw, out, redelivered, err := step(st.Handle, raw, in, marks.marked(in.Partition))
		if err != nil {
			ctx.Fail(err)
		}
		if redelivered {
			log.Debug("redelivered input: re-emitting its recorded outputs", "partition", in.Partition, "offset", in.Offset, "outputs", len(out))
		}
		if newRaw != nil {
			ctx.SetValue(newRaw)
		}
		emit(ctx, out)
		marks.handledInput(in.Partition, in.Offset)
	}

	edges := []goka.Edge{goka.Input(goka.Stream(st.Input), new(codec.Bytes), cb)}
	for _, o := range st.Outputs {
		edges = append(edges, goka.Output(goka.Stream(o), new(codec.Bytes)))
	}
	if !st.Stateless {
		edges = append(edges, goka.Persist(new(codec.Bytes)))
	}
	graph := goka.DefineGroup(goka.Group(st.Group), edges...)

	sc := cfg.Sarama()
	opts := []goka.ProcessorOption{
		goka.WithConsumerGroupBuilder(marks.consumerGroupBuilder(sc, st.Input)),
		goka.WithConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(sc)),
		goka.WithProducerBuilder(goka.ProducerBuilderWithConfig(sc)),
		goka.WithTopicManagerBuilder(goka.TopicManagerBuilderWithConfig(sc, cfg.topicManagerConfig())),
		goka.WithLogger(gokaLogger{log}),
	}
	if cfg.Hasher != nil {
		opts = append(opts, goka.WithHasher(cfg.Hasher))
	}
	opts = append(opts, goka.WithStorageBuilder(cfg.StorageBuilder(st.Group)))
	if st.OnAssign != nil {
		opts = append(opts, goka.WithRebalanceCallback(func(a goka.Assignment) {
			parts := make([]int32, 0, len(a))
			for p := range a {
				parts = append(parts, p)
			}
			st.OnAssign(parts)
		}))
	}
	proc, err := goka.NewProcessor(cfg.Brokers, graph, opts...)
	if err != nil {
		return nil, fmt.Errorf("stage %s: new processor: %w", st.Group, err)
	}
	return &Processor{name: st.Group, proc: proc}, nil
}

func emit(ctx goka.Context, out []Output) {
	for _, o := range out {
		ctx.Emit(goka.Stream(o.Topic), o.Key, o.Value)
	}
}

// Run processes until ctx ends or the processor fails.
func (p *Processor) Run(ctx context.Context) error {
	err := p.proc.Run(ctx)
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("stage %s: %w", p.name, err)
	}
	return nil
}

// WaitReady blocks until the processor has recovered its tables and runs.
func (p *Processor) WaitReady(ctx context.Context) error {
	return p.proc.WaitForReadyContext(ctx)
}

// Name is the stage's group.
func (p *Processor) Name() string { return p.name }

// Goka exposes the underlying processor (for Get in tests and views).
func (p *Processor) Goka() *goka.Processor { return p.proc }
