package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Latencies are the hedge latencies of one load: from a Witness produced
// to its hedge accepted by the dry-run broker (Accepted), and to the hedge's
// fill booked in the position (Booked).
type Latencies struct {
	Accepted, Booked []time.Duration
	// NotAccepted and NotBooked count hedges of this load not there (yet).
	NotAccepted, NotBooked int
}

// HedgeLatencies pairs each hedge with the Witness that caused it:
//
//	position.events OffChainOrderPlaced, command_id "ack:<trade id>" when a
//	  fill triggered it -> the trade id's produce time, recorded by Produce
//	  in sent;
//	the dry-run ledger line of its execution id (= client order id) ->
//	  accepted_at;
//	position.events OffChainOrderFilled of its execution id -> the record's
//	  timestamp, the time the position booked the fill.
//
// Hedges triggered otherwise (a hedge fill that left the position above
// the threshold: command_id "complete:...") and trades of other phases are
// skipped.
func HedgeLatencies(ctx context.Context, brokers []string, ledger string, sent *Sent) (Latencies, error) {
	var out Latencies
	placed := map[string]string{}    // execution id -> trade id
	booked := map[string]time.Time{} // execution id -> fill booked
	err := readTopic(ctx, brokers, topics.PositionEvents, func(r *kgo.Record) {
		env, err := topics.DecodeEnvelope(r.Value)
		if err != nil {
			return
		}
		var p struct {
			ExecutionID string `json:"execution_id"`
		}
		switch env.EventType {
		case (position.OffChainOrderFilled{}).EventType():
			if json.Unmarshal(env.Payload, &p) == nil {
				booked[p.ExecutionID] = r.Timestamp
			}
		case (position.OffChainOrderPlaced{}).EventType():
			trade, ok := strings.CutPrefix(env.CommandID, "ack:")
			if !ok {
				return
			}
			if _, ours := sent.At(trade); ours && json.Unmarshal(env.Payload, &p) == nil {
				placed[p.ExecutionID] = trade
			}
		}
	})
	if err != nil {
		return out, err
	}
	for id, trade := range placed {
		t0, _ := sent.At(trade)
		if at, ok := booked[id]; ok {
			out.Booked = append(out.Booked, at.Sub(t0))
		} else {
			out.NotBooked++
		}
	}
	f, err := os.Open(ledger)
	if err != nil {
		return out, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		var l struct {
			ClientOrderID string `json:"client_order_id"`
			AcceptedAt    string `json:"accepted_at"`
		}
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue
		}
		trade, ok := placed[l.ClientOrderID]
		if !ok {
			continue
		}
		delete(placed, l.ClientOrderID)
		at, err := time.Parse(time.RFC3339Nano, l.AcceptedAt)
		if err != nil {
			return out, fmt.Errorf("ledger accepted_at %q: %w", l.AcceptedAt, err)
		}
		t0, _ := sent.At(trade)
		out.Accepted = append(out.Accepted, at.Sub(t0))
	}
	out.NotAccepted = len(placed)
	return out, sc.Err()
}

// readTopic calls fn for every record of topic up to its end offsets now.
func readTopic(ctx context.Context, brokers []string, topic string, fn func(*kgo.Record)) error {
	return readTopicShare(ctx, brokers, topic, 1, fn)
}

// readTopicShare reads the first share (0..1] of every partition of topic.
func readTopicShare(ctx context.Context, brokers []string, topic string, share float64, fn func(*kgo.Record)) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	span, err := topics.Bounds(ctx, kadm.NewClient(cl), topic)
	cl.Close()
	if err != nil {
		return err
	}
	for p, to := range span.To {
		span.To[p] = span.From[p] + int64(float64(to-span.From[p])*min(share, 1))
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	return topics.ReadSpan(ctx, []kgo.Opt{kgo.SeedBrokers(brokers...), kgo.FetchMaxWait(100 * time.Millisecond)}, topic, span,
		func(r *kgo.Record) error { fn(r); return nil })
}

// listEnds calls fn with each partition's end offset.
func listEnds(ctx context.Context, cl *kgo.Client, topic string, fn func(int32, int64)) error {
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		return err
	}
	var errs []error
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			errs = append(errs, o.Err)
			return
		}
		fn(o.Partition, o.Offset)
	})
	return errors.Join(errs...)
}

// endOffsets sums the end offsets of topics: how many records they hold.
func endOffsets(ctx context.Context, brokers []string, ts ...string) (int64, error) {
	var n int64
	for _, t := range ts {
		if err := readEnds(ctx, brokers, t, func(_ int32, end int64) { n += end }); err != nil {
			return 0, err
		}
	}
	return n, nil
}
