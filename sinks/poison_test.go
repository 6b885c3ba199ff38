package sinks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/hedgeline/hedgeline/topics"
)

func envelopeRecord(t testing.TB, topic, key string, env topics.EventEnvelope, payload any) *kgo.Record {
	t.Helper()
	b, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	env.Payload = b
	if env.EventVersion == 0 {
		env.EventVersion = 1
	}
	if env.OccurredAt.IsZero() {
		env.OccurredAt = t0
	}
	v, err := topics.EncodeEvent(env)
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Topic: topic, Key: []byte(key), Value: v}
}

// readRejections reads projection.rejections until it holds n records.
func readRejections(t testing.TB, addr string, n int) []topics.Rejection {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topics.ProjectionRejections),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []topics.Rejection
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d rejections", len(out), n)
		}
		for _, r := range fs.Records() {
			rej, err := topics.DecodeRejection(r.Value)
			if err != nil {
				t.Fatalf("rejection does not decode: %v", err)
			}
			out = append(out, rej)
		}
	}
	return out
}

// TestPoisonRejected: undecodable records, events of the wrong aggregate
// type or of unknown event types, and events that do not fold go to
// projection.rejections with a reason naming the projection, topic,
// partition, offset and error; the events around them still project.
func TestPoisonRejected(t *testing.T) {
	db := testDB(t)
	addr := startKafka(t)
	cl := producer(t, addr)
	s := newScenario(t)
	posRecs := s.all(topics.PositionEvents)

	// Poison on position.events, produced before and among the scenario's
	// events (same partitions as AAPL and MSFT).
	init := position.Initialized{Symbol: "MSFT", Threshold: market.WholeShare(), Execution: market.DefaultExecution(market.DryRun), InitializedAt: t0}
	bad := []*kgo.Record{
		{Topic: topics.PositionEvents, Key: []byte("AAPL"), Value: []byte("not json at all")},
		envelopeRecord(t, topics.PositionEvents, "AAPL", topics.EventEnvelope{AggregateType: topics.OnChainTrade, AggregateID: "AAPL", Sequence: 99, EventType: "OnChainTradeEvent::Enriched"}, map[string]any{}),
		envelopeRecord(t, topics.PositionEvents, "AAPL", topics.EventEnvelope{AggregateType: topics.Position, AggregateID: "AAPL", Sequence: 98, EventType: "PositionEvent::Nope"}, map[string]any{}),
		envelopeRecord(t, topics.PositionEvents, "MSFT", topics.EventEnvelope{AggregateType: topics.Position, AggregateID: "MSFT", Sequence: 1, EventType: init.EventType()}, init),
		// A hedge fill with no hedge pending: the fold fails the aggregate.
		envelopeRecord(t, topics.PositionEvents, "MSFT", topics.EventEnvelope{AggregateType: topics.Position, AggregateID: "MSFT", Sequence: 2, EventType: "PositionEvent::OffChainOrderFilled"},
			position.OffChainOrderFilled{ExecutionID: "x", SharesFilled: dec("1"), Direction: market.Buy, BrokerOrderID: "b", Price: dec("1"), BrokerTimestamp: t0}),
		// Anything after that on the failed aggregate is not applied either.
		envelopeRecord(t, topics.PositionEvents, "MSFT", topics.EventEnvelope{AggregateType: topics.Position, AggregateID: "MSFT", Sequence: 3, EventType: "PositionEvent::ThresholdUpdated"},
			position.ThresholdUpdated{OldThreshold: market.WholeShare(), NewThreshold: market.WholeShare(), UpdatedAt: t0}),
	}
	produce(t, cl, bad[:3]...)
	produce(t, cl, clone(posRecs[:3])...)
	produce(t, cl, bad[3:]...)
	produce(t, cl, clone(posRecs[3:])...)
	badPnL := []*kgo.Record{
		{Topic: topics.PnLEvents, Key: []byte("AAPL"), Value: []byte(`{"symbol":"AAPL"`)},
		{Topic: topics.PnLEvents, Key: []byte("AAPL"), Value: bytes.Replace(s.all(topics.PnLEvents)[0].Value, []byte(`"onchain"`), []byte(`"moon"`), 1)},
	}
	produce(t, cl, badPnL...)
	for _, topic := range []string{topics.OnChainTradeEvents, topics.OffchainOrderEvents, topics.PnLEvents} {
		produce(t, cl, clone(s.all(topic))...)
	}

	runAll(t, db, addr, Options{})
	checkScenario(t, db, s)

	msft := tableRowsWhere(t, db, "position_view", "aggregate_id = 'MSFT'", "aggregate_id", "state")
	if len(msft) != 1 || msft[0]["status"] != "failed" || msft[0]["sequence"] != "3" ||
		!strings.Contains(msft[0]["failure"], "no hedge is pending") {
		t.Errorf("MSFT position = %v, want failed at sequence 3", msft)
	}

	rejs := readRejections(t, addr, 7)
	want := []struct {
		topic, id, reason string
		original          []byte
	}{
		{topics.PositionEvents, "", "undecodable event", bad[0].Value},
		{topics.PositionEvents, "AAPL", `aggregate type "OnChainTrade" on the Position topic`, bad[1].Value},
		{topics.PositionEvents, "AAPL", `unknown type "PositionEvent::Nope"`, bad[2].Value},
		{topics.PositionEvents, "MSFT", "does not fold", bad[4].Value},
		{topics.PositionEvents, "MSFT", "aggregate failed earlier", bad[5].Value},
		{topics.PnLEvents, "", "undecodable pnl record", badPnL[0].Value},
		{topics.PnLEvents, "", `invalid venue "moon"`, badPnL[1].Value},
	}
	for _, w := range want {
		found := false
		for _, r := range rejs {
			if r.Topic != w.topic || !bytes.Equal(r.Original(), w.original) {
				continue
			}
			found = true
			proj := map[string]string{topics.PositionEvents: "positions", topics.PnLEvents: "pnl"}[w.topic]
			prefix := fmt.Sprintf("projection %s: %s/%d@%d: ", proj, r.Topic, r.Partition, r.Offset)
			if !strings.HasPrefix(r.Reason, prefix) || !strings.Contains(r.Reason, w.reason) || r.AggregateID != w.id || r.AggregateType != topics.Position {
				t.Errorf("rejection %+v: want reason %q...%q, aggregate %q", r, prefix, w.reason, w.id)
			}
		}
		if !found {
			t.Errorf("no rejection of %s record %q", w.topic, w.original)
		}
	}
}
