// Package feed is what a source of fills (ingest file, loadgen) asks the
// stack: where the chain already stands, so it continues after it, and what
// became of the fills it produced, so refusals are reported instead of
// being counted as produced.
//
// A fill's outcome is decided in two places. The OnChainTrade aggregate
// records it (onchain-trade.events), refuses it (onchain-trade.rejections:
// trade already filled under another command id), or drops a Witness
// command it already processed without a trace (the same command id: a
// re-ingested file). The position then applies it (position.events,
// OnChainOrderFilled) or refuses it (position.rejections: at or below its
// chain-order watermark). Fills are matched by their correlation id
// ("fill:<tx_hash>:<log_index>"), which every command and event they cause
// carries.
package feed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"time"

	"github.com/hedgeline/hedgeline/internal/kafkasec"
	"github.com/hedgeline/hedgeline/processors/onchaintrade"
	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/hedgeline/hedgeline/processors/runner"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ChainPos is a fill's place in chain order.
type ChainPos struct {
	Block     uint64    `json:"block"`
	LogIndex  uint64    `json:"log_index"`
	Timestamp time.Time `json:"block_timestamp"`
}

// Before reports whether p comes strictly before o in chain order.
func (p ChainPos) Before(o ChainPos) bool {
	return p.Block < o.Block || p.Block == o.Block && p.LogIndex < o.LogIndex
}

// DefaultTail is how many of the newest records of each partition
// LastChainPos reads. Sources produce in chain order, so the newest records
// hold the highest position; the window absorbs a small file re-ingested
// after a larger run (the sample has 60 lines).
const DefaultTail = 1000

// LastChainPos returns the highest chain position among the newest tail
// Witness and Migrate commands of each onchain-trade.commands partition
// (ok false when there are none). The commands topic, not the events, is
// read: it also holds fills produced but not processed yet, which a source
// must continue after too. Reading only the tail keeps it constant-time on
// a stack with millions of fills.
func LastChainPos(ctx context.Context, k kafkasec.Cluster, tail int64) (pos ChainPos, ok bool, err error) {
	if tail < 1 {
		tail = DefaultTail
	}
	cl, err := kgo.NewClient(k.Opts()...)
	if err != nil {
		return ChainPos{}, false, fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	span, err := topics.Bounds(ctx, kadm.NewClient(cl), topics.OnChainTradeCommands)
	if err != nil {
		return ChainPos{}, false, err
	}
	for p, to := range span.To {
		span.From[p] = max(span.From[p], to-tail)
	}
	// A range whose end is never reached (a gap in the log) must not hang.
	ctx, cancel := context.WithTimeout(ctx, readRangeTimeout)
	defer cancel()
	err = topics.ReadSpan(ctx, k.Opts(), topics.OnChainTradeCommands, span, func(r *kgo.Record) error {
		p, isFill := commandPos(r.Value)
		if isFill && (!ok || pos.Before(p)) {
			pos, ok = p, true
		}
		return nil
	})
	return pos, ok, err
}

// commandPos reads the chain position of a Witness or Migrate command.
func commandPos(value []byte) (ChainPos, bool) {
	env, err := topics.DecodeCommand(value)
	if err != nil || (env.CommandType != (onchaintrade.Witness{}).CommandType() && env.CommandType != (onchaintrade.Migrate{}).CommandType()) {
		return ChainPos{}, false
	}
	var c struct {
		TradeID        struct{ LogIndex uint64 } `json:"trade_id"`
		BlockNumber    uint64                    `json:"block_number"`
		BlockTimestamp time.Time                 `json:"block_timestamp"`
	}
	if json.Unmarshal(env.Payload, &c) != nil {
		return ChainPos{}, false
	}
	return ChainPos{Block: c.BlockNumber, LogIndex: c.TradeID.LogIndex, Timestamp: c.BlockTimestamp}, true
}

// readRangeTimeout bounds the read of LastChainPos.
const readRangeTimeout = time.Minute

// Mark is where the topics a report reads stood before a source produced:
// its outcomes are at or after these offsets.
type Mark map[string]map[int32]int64

var watched = []string{topics.OnChainTradeEvents, topics.OnChainTradeRejections, topics.PositionEvents, topics.PositionRejections}

// Snapshot marks the end offsets of the topics Wait reads. Take it before
// producing.
func Snapshot(ctx context.Context, k kafkasec.Cluster) (Mark, error) {
	cl, err := kgo.NewClient(k.Opts()...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	return endsOf(ctx, kadm.NewClient(cl), watched...)
}

// Produced is one Witness command a source produced.
type Produced struct {
	TradeID   string
	Partition int32
	Offset    int64
}

// Report is what became of a source's fills.
type Report struct {
	Produced int `json:"produced"`
	// Accepted fills reached their position.
	Accepted int `json:"accepted"`
	// AlreadyRecorded fills were dropped by the trade aggregate: the same
	// Witness command (a fill produced before, e.g. a file ingested again).
	AlreadyRecorded int `json:"already_recorded"`
	// Refused fills are on a rejections topic, counted by reason (trade
	// ids and numbers in reasons are replaced by placeholders).
	Refused int            `json:"refused"`
	Reasons map[string]int `json:"reasons,omitempty"`
	// Unresolved fills had no outcome when the wait ended.
	Unresolved int `json:"unresolved"`
}

// OK reports whether every fill was accepted.
func (r Report) OK() bool { return r.Accepted == r.Produced }

// Problem says what went wrong in one line, or "" when every fill was
// accepted.
func (r Report) Problem() string {
	var parts []string
	if r.Refused > 0 {
		parts = append(parts, fmt.Sprintf("%d refused", r.Refused))
	}
	if r.AlreadyRecorded > 0 {
		parts = append(parts, fmt.Sprintf("%d already recorded (produced before)", r.AlreadyRecorded))
	}
	if r.Unresolved > 0 {
		parts = append(parts, fmt.Sprintf("%d without an outcome yet", r.Unresolved))
	}
	if len(parts) == 0 {
		return ""
	}
	return fmt.Sprintf("%d of %d fills not accepted: %s", r.Produced-r.Accepted, r.Produced, joinComma(parts))
}

func joinComma(s []string) string {
	out := ""
	for i, p := range s {
		if i > 0 {
			out += ", "
		}
		out += p
	}
	return out
}

// ReasonLines lists the reasons, most frequent first, as "count  reason".
func (r Report) ReasonLines() []string {
	keys := slices.Collect(maps.Keys(r.Reasons))
	slices.SortFunc(keys, func(a, b string) int {
		if r.Reasons[a] != r.Reasons[b] {
			return r.Reasons[b] - r.Reasons[a]
		}
		if a < b {
			return -1
		}
		return 1
	})
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = fmt.Sprintf("%7d  %s", r.Reasons[k], k)
	}
	return out
}

var (
	tradeIDs = regexp.MustCompile(`0x[0-9a-fA-F]+(:[0-9]+)?`)
	uuids    = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	numbers  = regexp.MustCompile(`[0-9]+`)
)

// reasonKey groups reasons that differ only by ids and numbers.
func reasonKey(s string) string {
	s = tradeIDs.ReplaceAllString(s, "<trade>")
	s = uuids.ReplaceAllString(s, "<id>")
	return numbers.ReplaceAllString(s, "N")
}

type outcome int

const (
	unknown outcome = iota
	recorded
	accepted
	refused
	dropped
)

// Wait follows the fills in produced to their outcome, reading the watched
// topics from since, until each has one or timeout passes (then the rest
// are Unresolved). A fill the trade aggregate dropped leaves no record; it
// is known once the trade group has committed past its command (the runner
// commits an input only when its outputs are durable) and nothing of it was
// found up to the ends read after that commit. progress, if set, is called
// about every interval.
func Wait(ctx context.Context, k kafkasec.Cluster, since Mark, produced []Produced, timeout time.Duration,
	interval time.Duration, progress func(Report)) (Report, error) {
	state := make(map[string]outcome, len(produced))
	last := map[int32]int64{} // highest produced offset per partition
	for _, p := range produced {
		state["fill:"+p.TradeID] = unknown
		if o, ok := last[p.Partition]; !ok || p.Offset > o {
			last[p.Partition] = p.Offset
		}
	}
	rep := Report{Produced: len(produced), Reasons: map[string]int{}} // Reasons filled as rejections come
	if len(produced) == 0 {
		return rep, nil
	}
	consume := map[string]map[int32]kgo.Offset{}
	for topic, parts := range since {
		consume[topic] = map[int32]kgo.Offset{}
		for p, o := range parts {
			consume[topic][p] = kgo.NewOffset().At(o)
		}
	}
	rd, err := kgo.NewClient(k.Opts(kgo.ConsumePartitions(consume))...)
	if err != nil {
		return rep, fmt.Errorf("kafka client: %w", err)
	}
	defer rd.Close()
	adm := kadm.NewClient(rd)

	read := Mark{} // next offset to read per topic/partition
	for topic, parts := range since {
		read[topic] = maps.Clone(parts)
	}
	count := func() Report {
		r := Report{Produced: len(produced), Reasons: rep.Reasons}
		for _, o := range state {
			switch o {
			case accepted:
				r.Accepted++
			case refused:
				r.Refused++
			case dropped:
				r.AlreadyRecorded++
			case unknown, recorded:
				r.Unresolved++
			}
		}
		return r
	}
	apply := func(rec *kgo.Record) {
		read[rec.Topic][rec.Partition] = rec.Offset + 1
		switch rec.Topic {
		case topics.OnChainTradeEvents, topics.PositionEvents:
			env, err := topics.DecodeEnvelope(rec.Value)
			if err != nil {
				return
			}
			o, ours := state[env.CorrelationID]
			if !ours || o == accepted || o == refused || o == dropped {
				return
			}
			switch {
			case rec.Topic == topics.OnChainTradeEvents && env.EventType == (onchaintrade.Filled{}).EventType():
				state[env.CorrelationID] = recorded
			case rec.Topic == topics.PositionEvents && env.EventType == (position.OnChainOrderFilled{}).EventType():
				state[env.CorrelationID] = accepted
			}
		default: // rejections
			rej, err := topics.DecodeRejection(rec.Value)
			if err != nil {
				return
			}
			env, err := topics.DecodeCommand(rej.Original())
			if err != nil {
				return
			}
			if o, ours := state[env.CorrelationID]; ours && (o == unknown || o == recorded) {
				state[env.CorrelationID] = refused
				rep.Reasons[reasonKey(rej.Reason)]++
			}
		}
	}

	deadline := time.Now().Add(timeout)
	nextProgress := time.Now().Add(interval)
	dropsChecked := false
	for {
		r := count()
		if r.Unresolved == 0 {
			return r, nil
		}
		if time.Now().After(deadline) {
			return r, nil
		}
		if progress != nil && interval > 0 && time.Now().After(nextProgress) {
			progress(r)
			nextProgress = time.Now().Add(interval)
		}
		if !dropsChecked {
			done, err := tradeGroupPast(ctx, adm, last)
			if err != nil {
				return r, err
			}
			if done {
				// Everything the trade stage decided for our commands is
				// on its topics below these ends: read up to them, and
				// what has left no trace was dropped as already recorded.
				ends, err := endsOf(ctx, adm, topics.OnChainTradeEvents, topics.OnChainTradeRejections)
				if err != nil {
					return r, err
				}
				// Bounded by the wait: an end offset that is never reached
				// (a gap in the log) must not hang the caller.
				dctx, cancel := context.WithDeadline(ctx, deadline)
				err = drain(dctx, rd, read, ends, apply)
				cancel()
				if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
					return count(), nil
				}
				if err != nil {
					return r, err
				}
				for id, o := range state {
					if o == unknown {
						state[id] = dropped
					}
				}
				dropsChecked = true
				continue
			}
		}
		pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		fs := rd.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return count(), err
		}
		fs.EachRecord(apply)
	}
}

// tradeGroupPast reports whether the OnChainTrade group has committed past
// the offset last[p] of every partition p of onchain-trade.commands.
func tradeGroupPast(ctx context.Context, adm *kadm.Client, last map[int32]int64) (bool, error) {
	group := runner.GroupOf(topics.OnChainTrade)
	offs, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return false, fmt.Errorf("committed offsets of group %s: %w", group, err)
	}
	for p, o := range last {
		c, ok := offs.Lookup(topics.OnChainTradeCommands, p)
		if !ok || c.Err != nil || c.At <= o {
			return false, nil
		}
	}
	return true, nil
}

func endsOf(ctx context.Context, adm *kadm.Client, names ...string) (Mark, error) {
	ends, err := adm.ListEndOffsets(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("end offsets: %w", err)
	}
	m := Mark{}
	var errs []error
	ends.Each(func(o kadm.ListedOffset) {
		if errors.Is(o.Err, kerr.UnknownTopicOrPartition) {
			return // not created yet (no pipeline ran): it holds nothing
		}
		if o.Err != nil {
			errs = append(errs, fmt.Errorf("%s[%d]: %w", o.Topic, o.Partition, o.Err))
			return
		}
		if m[o.Topic] == nil {
			m[o.Topic] = map[int32]int64{}
		}
		m[o.Topic][o.Partition] = o.Offset
	})
	return m, errors.Join(errs...)
}

// drain reads rd until every partition in ends is read up to its end.
func drain(ctx context.Context, rd *kgo.Client, read, ends Mark, apply func(*kgo.Record)) error {
	behind := func() bool {
		for topic, parts := range ends {
			for p, end := range parts {
				if read[topic][p] < end {
					return true
				}
			}
		}
		return false
	}
	for behind() {
		fs := rd.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fs.Err(); err != nil {
			return fmt.Errorf("read outcomes: %w", err)
		}
		fs.EachRecord(apply)
	}
	return nil
}
