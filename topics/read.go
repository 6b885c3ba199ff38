package topics

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Span is a range of offsets per partition: From[p] (inclusive) to To[p]
// (exclusive). Partitions with nothing in range are absent.
type Span struct {
	From, To map[int32]int64
}

// Len is how many offsets the span covers.
func (s Span) Len() int64 {
	var n int64
	for p, to := range s.To {
		n += to - s.From[p]
	}
	return n
}

// ErrNoTopic is returned by Bounds for a topic the cluster does not have.
var ErrNoTopic = errors.New("topic does not exist")

// Bounds is the span of every partition of topic now: from its start
// (after retention or compaction) to its end.
func Bounds(ctx context.Context, adm *kadm.Client, topic string) (Span, error) {
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return Span{}, fmt.Errorf("start offsets of %s: %w", topic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return Span{}, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	if parts, ok := ends[topic]; !ok || len(parts) == 0 || errors.Is(ends.Error(), kerr.UnknownTopicOrPartition) {
		return Span{}, fmt.Errorf("%s: %w", topic, ErrNoTopic)
	}
	s := Span{From: map[int32]int64{}, To: map[int32]int64{}}
	var errs []error
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			errs = append(errs, fmt.Errorf("%s[%d]: %w", o.Topic, o.Partition, o.Err))
			return
		}
		var start int64
		if st, ok := starts.Lookup(o.Topic, o.Partition); ok && st.Err == nil {
			start = st.Offset
		}
		if o.Offset > start {
			s.From[o.Partition], s.To[o.Partition] = start, o.Offset
		}
	})
	return s, errors.Join(errs...)
}

// ReadSpan passes every record of topic within span to fn, in offset order
// per partition, with a client of its own built from opts (seed brokers and
// security; no consumer group). It returns fn's first error, or ctx's when
// a partition's end is not reached (a gap in the log must not hang a
// caller: give ctx a deadline).
func ReadSpan(ctx context.Context, opts []kgo.Opt, topic string, span Span, fn func(*kgo.Record) error) error {
	left := maps.Clone(span.To)
	want := map[int32]kgo.Offset{}
	for p, from := range span.From {
		if from >= span.To[p] {
			delete(left, p)
			continue
		}
		want[p] = kgo.NewOffset().At(from)
	}
	if len(left) == 0 {
		return nil
	}
	rd, err := kgo.NewClient(append(slices.Clone(opts), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: want}))...)
	if err != nil {
		return fmt.Errorf("read %s: %w", topic, err)
	}
	defer rd.Close()
	for len(left) > 0 {
		fs := rd.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("read %s: partitions %v not read to their ends: %w", topic, slices.Sorted(maps.Keys(left)), err)
		}
		if err := fs.Err(); err != nil {
			return fmt.Errorf("read %s: %w", topic, err)
		}
		var ferr error
		fs.EachRecord(func(r *kgo.Record) {
			end, open := left[r.Partition]
			if ferr != nil || !open || r.Offset >= end {
				return
			}
			ferr = fn(r)
			if r.Offset+1 >= end {
				delete(left, r.Partition)
			}
		})
		if ferr != nil {
			return ferr
		}
	}
	return nil
}

// ReadToEnd passes every record of topic, from its start to its end as of
// the call, to fn: a point-in-time read of a whole topic.
func ReadToEnd(ctx context.Context, opts []kgo.Opt, topic string, fn func(*kgo.Record) error) error {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("read %s: %w", topic, err)
	}
	span, err := Bounds(ctx, kadm.NewClient(cl), topic)
	cl.Close()
	if err != nil {
		return err
	}
	return ReadSpan(ctx, opts, topic, span, fn)
}
