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

// Latencies are the hedge latencies of one load, from the moment the cause
// of a hedge entered the pipeline to the hedge accepted by the dry-run
// broker (Accepted) and to the hedge's fill booked in the position
// (Booked), over every hedge of the load (All...) and over those a fill
// triggered (the others follow a previous hedge's completion).
type Latencies struct {
	Accepted, Booked       []time.Duration // fill-triggered hedges
	AllAccepted, AllBooked []time.Duration // every hedge
	// NotAccepted and NotBooked count hedges of this load not there (yet);
	// Untimed counts hedges whose cause has no known time (a failed hedge
	// never accepted, a command of another kind).
	NotAccepted, NotBooked, Untimed int
}

// placedHedge is one OffChainOrderPlaced of position.events: its execution
// id and the id of the command that decided it.
type placedHedge struct{ exec, cmd string }

// hedgeCause says when the cause of a hedge entered the pipeline, from the
// command that decided it:
//
//	"ack:<trade id>[#<fill sequence>]": a fill; its Witness's produce time
//	  (sent; false for trades of other loads);
//	"complete:<exec>" / "fail:<exec>": the previous hedge <exec> filled (or
//	  failed) at the dry-run broker: its accepted_at plus fillDelay, the
//	  broker's fill time, which the pipeline learns by its push or its poll.
//	  The wait for that news and the Kafka hops after it are the latency.
//
// known is false when there is no time for the cause (untimed).
func hedgeCause(cmd string, sent *Sent, accepted map[string]time.Time, fillDelay time.Duration) (at time.Time, byFill, known bool) {
	if trade, ok := strings.CutPrefix(cmd, "ack:"); ok {
		trade, _, _ = strings.Cut(trade, "#")
		at, known = sent.At(trade)
		return at, true, known
	}
	for _, p := range []string{"complete:", "fail:"} {
		if exec, ok := strings.CutPrefix(cmd, p); ok {
			at, known = accepted[exec]
			return at.Add(fillDelay), false, known
		}
	}
	return time.Time{}, false, false
}

// correlateHedges pairs each placed hedge with its cause (hedgeCause) and
// its outcomes: accepted (ledger accepted_at by execution id) and booked
// (position.events OffChainOrderFilled record time by execution id). A
// hedge belongs to this load when its cause does: a fill of sent, or a
// previous hedge that filled at or after the load's first produce.
func correlateHedges(placed []placedHedge, accepted, booked map[string]time.Time, sent *Sent, fillDelay time.Duration) Latencies {
	var out Latencies
	first, _ := sent.First()
	for _, h := range placed {
		t0, byFill, known := hedgeCause(h.cmd, sent, accepted, fillDelay)
		switch {
		case byFill && !known:
			continue // a trade of another load
		case !byFill && known && t0.Before(first):
			continue // a chain of hedges from before this load
		case !known:
			out.Untimed++
			continue
		}
		if at, ok := accepted[h.exec]; ok {
			out.AllAccepted = append(out.AllAccepted, at.Sub(t0))
			if byFill {
				out.Accepted = append(out.Accepted, at.Sub(t0))
			}
		} else {
			out.NotAccepted++
		}
		if at, ok := booked[h.exec]; ok {
			out.AllBooked = append(out.AllBooked, at.Sub(t0))
			if byFill {
				out.Booked = append(out.Booked, at.Sub(t0))
			}
		} else {
			out.NotBooked++
		}
	}
	return out
}

// HedgeLatencies reads position.events (OffChainOrderPlaced: execution id
// and deciding command; OffChainOrderFilled: the record's timestamp, the
// time the position booked the hedge's fill) and the dry-run ledger
// (accepted_at by client order id = execution id) and correlates them
// (correlateHedges). The harness starts `run` without
// --dry-run-fill-delay: orders fill when accepted.
func HedgeLatencies(ctx context.Context, brokers []string, ledger string, sent *Sent) (Latencies, error) {
	var placed []placedHedge
	seen := map[string]bool{}
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
				if _, dup := booked[p.ExecutionID]; !dup {
					booked[p.ExecutionID] = r.Timestamp
				}
			}
		case (position.OffChainOrderPlaced{}).EventType():
			// A redelivery re-publishes: each hedge once.
			if json.Unmarshal(env.Payload, &p) == nil && !seen[p.ExecutionID] {
				seen[p.ExecutionID] = true
				placed = append(placed, placedHedge{exec: p.ExecutionID, cmd: env.CommandID})
			}
		}
	})
	if err != nil {
		return Latencies{}, err
	}
	accepted := map[string]time.Time{} // execution id -> accepted by the broker
	f, err := os.Open(ledger)
	if err != nil {
		return Latencies{}, err
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
		at, err := time.Parse(time.RFC3339Nano, l.AcceptedAt)
		if err != nil {
			return Latencies{}, fmt.Errorf("ledger accepted_at %q: %w", l.AcceptedAt, err)
		}
		accepted[l.ClientOrderID] = at
	}
	if err := sc.Err(); err != nil {
		return Latencies{}, fmt.Errorf("ledger %s: %w", ledger, err)
	}
	return correlateHedges(placed, accepted, booked, sent, 0), nil
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
