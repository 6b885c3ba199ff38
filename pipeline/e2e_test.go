package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/brokers/dryrun"
	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/offchainorder"
	"github.com/hedgeline/hedgeline/processors/onchaintrade"
	"github.com/hedgeline/hedgeline/processors/pnl"
	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/hedgeline/hedgeline/sources/file"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/shopspring/decimal"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestEndToEndSample ingests the demo fills (60 fills, 5 symbols, every
// marker) with `ingest file`'s code and checks everything the pipeline
// publishes (kitCheckFinal): one OnChainTrade Filled per fill, as
// witnessed; per position one OnChainOrderFilled per fill in chain order,
// every OffChainOrderPlaced opposite to the net's sign for trunc(|net|)
// shares (threshold 1 whole share) at the last on-chain price, its
// OffChainOrderFilled for exactly the pending hedge, the residual below one
// share carried in net; final net = signed on-chain volume + signed hedge
// fills, |net| < 1, nothing pending; each offchain order Placed >
// Submitted > Filled at the ledger's price; one dry-run ledger line per
// hedge; pnl.events equal to the reference FIFO over each position's event
// order; and nothing rejected.
func TestEndToEndSample(t *testing.T) {
	addr := kitStartBroker(t)
	dir := t.TempDir()
	ledger := filepath.Join(dir, "ledger.jsonl")
	p := kitStartPipeline(t, "pipeline", testRunConfig(t, addr, filepath.Join(dir, "state"), ledger))

	fills := kitReadSample(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, bad, err := ingestFile(ctx, kafkaFlags{brokers: addr, partitions: testPartitions, replication: 1}, kitSamplePath, true, testLogger(t, "ingest"))
	if err != nil || n != len(fills) || bad != 0 {
		t.Fatalf("ingest: %d produced, %d bad, %v; want %d", n, bad, err, len(fills))
	}

	snap := kitWaitSettled(t, addr, fills, settleTimeout, p.check)
	sums := kitCheckFinal(t, snap, fills, []string{ledger})
	kitNoRejections(t, addr)

	// The sample must exercise hedging: every symbol whose fills ever
	// reach a whole share of exposure was hedged, and the ledger holds
	// exactly the filled hedges.
	hedges := 0
	for sym, fs := range kitFillsBySymbol(fills) {
		net, peak := decimal.Zero, decimal.Zero
		for _, f := range fs {
			net = net.Add(f.Direction.Signed(f.Amount))
			peak = decimal.Max(peak, net.Abs())
		}
		s := sums[sym]
		if peak.GreaterThanOrEqual(decimal.NewFromInt(1)) && len(s.filled) == 0 {
			t.Errorf("%s: exposure reached %s shares but nothing was hedged", sym, peak)
		}
		hedges += len(s.filled)
		t.Logf("%s: %d fills, %d hedges, final net %s", sym, len(fs), len(s.filled), s.net)
	}
	entries, err := dryrun.ReadLedger(ledger)
	if err != nil {
		t.Fatal(err)
	}
	if hedges == 0 || len(entries) != hedges {
		t.Errorf("%d ledger lines, %d filled hedges", len(entries), hedges)
	}
}

// kitNoRejections fails the test if anything was rejected: a clean run of
// valid fills refuses nothing.
func kitNoRejections(t testing.TB, addr string) {
	t.Helper()
	if rej, n := kitRejectionSummary(t, addr); n > 0 {
		t.Errorf("%d rejections in a clean run: %v", n, rej)
	}
}

// TestDuplicateWitness produces a fill's Witness again, once as the very
// same command (same command id) and once under another command id.
// Behaviour of the code: the OnChainTrade aggregate remembers the ids of
// its recent commands, so the identical command is dropped silently; the
// other one is refused by the trade's own rule ("trade already filled") and
// lands on onchain-trade.rejections. Either way the fill is recorded once
// and reaches its position once.
func TestDuplicateWitness(t *testing.T) {
	addr := kitStartBroker(t)
	dir := t.TempDir()
	ledger := filepath.Join(dir, "ledger.jsonl")
	p := kitStartPipeline(t, "pipeline", testRunConfig(t, addr, filepath.Join(dir, "state"), ledger))
	cl := kitNewProducer(t, addr)

	fills := kitGenFills(2, 30, 3, 34_900_000)
	kitProduceFills(t, cl, fills)
	kitWaitSettled(t, addr, fills, settleTimeout, p.check)

	for _, i := range []int{0, 17, len(fills) - 1} {
		f := fills[i]
		id := f.TradeID.String()
		same := kitWitnessRecord(t, f)
		env, err := topics.DecodeCommand(same.Value)
		if err != nil {
			t.Fatal(err)
		}
		env.CommandID = "witness-retry:" + id
		other := kitCommandRecord(t, topics.OnChainTradeCommands, string(same.Key), env)
		// Same key, so same partition: the second is handled after the
		// first, and its rejection shows that both were.
		kitProduce(t, cl, same)
		kitProduce(t, cl, other)

		var rejs []topics.Rejection
		kitWaitFor(t, 30*time.Second, "rejection of the duplicate "+id, func() (bool, string) {
			rejs = rejs[:0]
			for _, r := range kitReadRejections(t, addr, topics.OnChainTradeRejections) {
				if r.AggregateID == id {
					rejs = append(rejs, r)
				}
			}
			return len(rejs) > 0, fmt.Sprintf("%d rejections", len(rejs))
		})
		if len(rejs) != 1 {
			t.Fatalf("%s: %d rejections, want 1 (the identical command is dropped silently): %+v", id, len(rejs), rejs)
		}
		r := rejs[0]
		if !strings.Contains(r.Reason, "already") || !strings.Contains(r.Reason, env.CommandID) {
			t.Errorf("%s: rejection reason %q does not say the trade was already filled by command %s", id, r.Reason, env.CommandID)
		}
		if !bytes.Equal(r.Original(), other.Value) || r.AggregateType != topics.OnChainTrade || r.Topic != topics.OnChainTradeCommands {
			t.Errorf("%s: rejection %+v does not carry the refused command", id, r)
		}
	}

	// Exactly one Filled and one OnChainOrderFilled per fill, hedges and
	// PnL untouched by the duplicates.
	snap := kitWaitSettled(t, addr, fills, settleTimeout, p.check)
	kitCheckFinal(t, snap, fills, []string{ledger})
	if n := len(kitReadTopic(t, addr, topics.PositionRejections)); n != 0 {
		t.Errorf("%d position rejections: a duplicate got past the trade aggregate", n)
	}
}

// TestBatchAndOneByOne feeds 5,000 fills of 6 symbols at once and checks
// every PnL record against the reference FIFO over the fills in chain order
// plus the hedges in each position's event order. A second pipeline gets a
// prefix of the same fills one at a time (each produced once the previous
// one's effects, hedge included, are visible): there the whole event
// sequence is predictable, so its PnL records must equal a model computed
// from the fills alone (hedge of trunc(|net|) at the last on-chain price
// right after the fill that crossed the threshold). The batch run
// legitimately differs from it once a hedge is pending while later fills
// arrive; up to each symbol's first hedge both runs must agree exactly.
func TestBatchAndOneByOne(t *testing.T) {
	const total, symbols, prefix = 5000, 6, 40
	fills := kitGenFills(3, total, symbols, 35_000_000)

	var batch map[string][]pnl.Record
	t.Run("batch", func(t *testing.T) {
		addr := kitStartBroker(t)
		dir := t.TempDir()
		ledger := filepath.Join(dir, "ledger.jsonl")
		p := kitStartPipeline(t, "pipeline", testRunConfig(t, addr, filepath.Join(dir, "state"), ledger))
		kitProduceFills(t, kitNewProducer(t, addr), fills)
		snap := kitWaitSettled(t, addr, fills, 2*settleTimeout, p.check)
		kitCheckFinal(t, snap, fills, []string{ledger})
		kitNoRejections(t, addr)
		batch = snap.pnl
		n := 0
		for _, recs := range snap.pnl {
			n += len(recs)
		}
		t.Logf("%d pnl records", n)
	})

	t.Run("one-by-one", func(t *testing.T) {
		addr := kitStartBroker(t)
		dir := t.TempDir()
		ledger := filepath.Join(dir, "ledger.jsonl")
		p := kitStartPipeline(t, "pipeline", testRunConfig(t, addr, filepath.Join(dir, "state"), ledger))
		cl := kitNewProducer(t, addr)
		model := newKitModel()
		ends := newKitEnds(t, addr)
		for i, f := range fills[:prefix] {
			model.fill(f)
			kitProduce(t, cl, kitWitnessRecord(t, f))
			want := model.count()
			kitWaitFor(t, 30*time.Second, fmt.Sprintf("effects of fill %d", i), func() (bool, string) {
				p.check(t)
				e, err := ends.get(topics.PnLEvents)
				if err != nil || e[topics.PnLEvents] < int64(want) {
					return false, fmt.Sprintf("pnl.events at %v (%v), want %d records", e, err, want)
				}
				recs, err := kitReadTopicErr(addr, topics.PnLEvents)
				if err != nil {
					return false, err.Error()
				}
				prs, err := kitDecodePnL(recs)
				if err != nil {
					return false, err.Error()
				}
				got, _ := kitDedupePnL(prs)
				n := 0
				for _, r := range got {
					n += len(r)
				}
				return n >= want, fmt.Sprintf("%d/%d pnl records", n, want)
			})
		}
		snap := kitWaitSettled(t, addr, fills[:prefix], settleTimeout, p.check)
		kitCheckFinal(t, snap, fills[:prefix], []string{ledger})
		for sym, want := range model.want {
			// The broker's fill time is wall clock: compared with the
			// position's event by kitCheckFinal, not with the model.
			kitReport(t, kitComparePnL(sym, snap.pnl[sym], want, false))
		}
		if len(snap.pnl) != len(model.want) {
			t.Errorf("pnl for %d symbols, model has %d", len(snap.pnl), len(model.want))
		}

		// Against the batch run: identical records up to each symbol's
		// first hedge (the same events so far), occurred_at included.
		if batch == nil {
			t.Skip("batch run failed")
		}
		for sym, recs := range snap.pnl {
			b := batch[sym]
			for i, r := range recs {
				if r.Venue == pnl.Offchain {
					break
				}
				if i >= len(b) || !reflect.DeepEqual(kitPnLJSON(t, r), kitPnLJSON(t, b[i])) {
					t.Errorf("%s record %d: one-by-one %+v, batch %+v", sym, i, r, b[min(i, len(b)-1)])
					break
				}
			}
		}
	})
}

// kitPnLJSON is a record's canonical JSON (decimals as written).
func kitPnLJSON(t testing.TB, r pnl.Record) string {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// kitModel predicts the PnL records of fills fed one at a time, each after
// the previous one's hedge completed: position sequence 1 is Initialized,
// every fill is one OnChainOrderFilled, and a fill that leaves |net| >= 1
// is followed by OffChainOrderPlaced (trunc(|net|), opposite side) and its
// OffChainOrderFilled at the last on-chain price (dry-run --dry-run-price
// last). Computed with its own FIFO book.
type kitModel struct {
	seq   map[string]uint64
	net   map[string]decimal.Decimal
	books map[string]*kitRefBook
	want  map[string][]kitPnlWant
}

func newKitModel() *kitModel {
	return &kitModel{seq: map[string]uint64{}, net: map[string]decimal.Decimal{},
		books: map[string]*kitRefBook{}, want: map[string][]kitPnlWant{}}
}

func (m *kitModel) fill(f file.Fill) {
	sym := string(f.Symbol.Base)
	if m.books[sym] == nil {
		m.books[sym] = kitNewRefBook()
		m.seq[sym] = 1 // Initialized
	}
	book := m.books[sym]
	add := func(venue pnl.Venue, dir market.Direction, qty, price decimal.Decimal, at time.Time) {
		m.seq[sym]++
		w := kitPnlWant{seq: m.seq[sym], venue: venue, dir: dir, qty: qty, price: price, occurredAt: at}
		w.realized, w.opened, w.net = book.fill(kitRat(dir.Signed(qty)), kitRat(price))
		w.cum = book.cum
		m.want[sym] = append(m.want[sym], w)
		m.net[sym] = m.net[sym].Add(dir.Signed(qty))
	}
	add(pnl.Onchain, f.Direction, f.Amount, f.PriceUSDC, f.BlockTimestamp)
	if net := m.net[sym]; net.Abs().GreaterThanOrEqual(decimal.NewFromInt(1)) {
		dir, _ := position.HedgeDirection(net)
		m.seq[sym]++ // OffChainOrderPlaced
		add(pnl.Offchain, dir, net.Abs().Truncate(0), f.PriceUSDC, time.Time{})
	}
}

func (m *kitModel) count() int {
	n := 0
	for _, w := range m.want {
		n += len(w)
	}
	return n
}

// TestRejections sends what the aggregates must refuse: bytes that are no
// command, an unknown command type, a command for another aggregate type,
// an Enrich of a trade that does not exist, an order step for an order that
// does not exist, a CompleteOffChainOrder for a hedge that is not pending
// and a replayed on-chain fill. Each lands on its aggregate's rejections
// topic with a reason naming the problem, changes nothing, and later fills
// are processed normally.
func TestRejections(t *testing.T) {
	addr := kitStartBroker(t)
	dir := t.TempDir()
	ledger := filepath.Join(dir, "ledger.jsonl")
	p := kitStartPipeline(t, "pipeline", testRunConfig(t, addr, filepath.Join(dir, "state"), ledger))
	cl := kitNewProducer(t, addr)

	fills := kitGenFills(4, 60, 3, 36_000_000)
	first, later := fills[:30], fills[30:]
	sym := string(first[0].Symbol.Base)
	// The refused on-chain commands are sent to the key of a trade that is
	// witnessed later: a refusal must not poison the key.
	reuse := slices.IndexFunc(later, func(f file.Fill) bool { return string(f.Symbol.Base) == sym })
	later[reuse].TradeID.TxHash = "0x" + strings.Repeat("ab", 32)
	unknownTrade := later[reuse].TradeID.String()
	kitProduceFills(t, cl, first)
	snap := kitWaitSettled(t, addr, first, settleTimeout, p.check)
	before := kitCheckFinal(t, snap, first, []string{ledger})

	now := time.Now().UTC()
	envFor := func(aggType, id, cmdID, cmdType string, payload any) topics.CommandEnvelope {
		b, err := json.Marshal(payload)
		if err != nil {
			t.Fatal(err)
		}
		return topics.CommandEnvelope{AggregateType: aggType, AggregateID: id, CommandID: cmdID, CommandType: cmdType,
			CommandVersion: 1, IssuedAt: now, CorrelationID: cmdID, CausationID: "test", Payload: b}
	}
	var lastOf file.Fill
	for _, f := range first {
		if string(f.Symbol.Base) == sym {
			lastOf = f
		}
	}
	replay := position.AcknowledgeOnChainFill{Symbol: lastOf.Symbol.String(), TradeID: lastOf.TradeID, BlockNumber: lastOf.BlockNumber,
		Amount: lastOf.Amount, Direction: lastOf.Direction, PriceUSDC: lastOf.PriceUSDC, BlockTimestamp: lastOf.BlockTimestamp}

	cases := []struct {
		name   string
		rec    *kgo.Record
		topic  string // rejections topic
		reason []string
	}{
		{"malformed bytes", &kgo.Record{Topic: topics.OnChainTradeCommands, Key: []byte(sym + "|garbage"), Value: []byte("{not a command\xff")},
			topics.OnChainTradeRejections, []string{"undecodable command"}},
		{"unknown command type", kitCommandRecord(t, topics.OnChainTradeCommands, topics.SymbolKey(sym, unknownTrade),
			envFor(topics.OnChainTrade, unknownTrade, "test:teleport", "Teleport", map[string]any{})),
			topics.OnChainTradeRejections, []string{"unknown type", "Teleport"}},
		{"wrong aggregate type", kitCommandRecord(t, topics.OnChainTradeCommands, topics.SymbolKey(sym, unknownTrade),
			envFor(topics.Position, unknownTrade, "test:wrong-type", "UpdateThreshold", map[string]any{"threshold": map[string]string{"shares": "5"}})),
			topics.OnChainTradeRejections, []string{`aggregate type "Position"`, "OnChainTrade"}},
		{"enrich unknown trade", kitCommandRecord(t, topics.OnChainTradeCommands, topics.SymbolKey(sym, unknownTrade),
			envFor(topics.OnChainTrade, unknownTrade, "test:enrich", "Enrich", onchaintrade.Enrich{GasUsed: 21000, EffectiveGasPrice: 1_000_000})),
			topics.OnChainTradeRejections, []string{"Enrich", "not filled"}},
		{"unknown order", kitCommandRecord(t, topics.OffchainOrderCommands, "no-such-order",
			envFor(topics.OffchainOrder, "no-such-order", "test:submit", "ConfirmSubmission", offchainorder.ConfirmSubmission{BrokerOrderID: "X-1"})),
			topics.OffchainOrderRejections, []string{"ConfirmSubmission", "not initialized"}},
		{"complete with a wrong execution id", kitCommandRecord(t, topics.PositionCommands, sym,
			envFor(topics.Position, sym, "test:complete", "CompleteOffChainOrder", position.CompleteOffChainOrder{
				ExecutionID: "not-the-pending-one", SharesFilled: decimal.NewFromInt(1), Direction: market.Buy,
				BrokerOrderID: "X-2", Price: decimal.RequireFromString("100"), BrokerTimestamp: now})),
			topics.PositionRejections, []string{"CompleteOffChainOrder", "not-the-pending-one", "no hedge is pending"}},
		{"replayed on-chain fill", kitCommandRecord(t, topics.PositionCommands, sym,
			envFor(topics.Position, sym, "test:replay", "AcknowledgeOnChainFill", replay)),
			topics.PositionRejections, []string{"AcknowledgeOnChainFill", lastOf.TradeID.String(), "already applied"}},
		// A producer with another partitioner (kcat's default) put the
		// position's command on a partition where its state does not live.
		{"key on the wrong partition", wrongPartition(t, kitCommandRecord(t, topics.PositionCommands, sym,
			envFor(topics.Position, sym, "test:wrong-partition", "UpdateThreshold", map[string]any{"threshold": map[string]string{"shares": "5"}}))),
			topics.PositionRejections, []string{"belongs to partition", "partitioner"}},
		{"unknown command version", withVersion(t, kitWitnessRecord(t, later[0]), 99),
			topics.OnChainTradeRejections, []string{"command_version", "unsupported version 99"}},
		{"order id not a uuid", kitCommandRecord(t, topics.OffchainOrderCommands, "not-a-uuid",
			envFor(topics.OffchainOrder, "not-a-uuid", "test:place", "Place", offchainorder.Place{
				Symbol: market.Symbol(sym), Shares: decimal.NewFromInt(1), Direction: market.Buy, Broker: market.DryRun})),
			topics.OffchainOrderRejections, []string{"aggregate_id"}},
		{"tombstone", &kgo.Record{Topic: topics.PositionCommands, Key: []byte(sym)},
			topics.PositionRejections, []string{"tombstone"}},
		// 900 KB of valid, not compact JSON: its rejection keeps a prefix,
		// the size and the hash, and fits the topic.
		{"oversized command", kitCommandRecord(t, topics.PositionCommands, sym, envFor(topics.Position, sym, "test:huge", "Teleport",
			map[string]string{"pad": strings.Repeat("x", 900<<10)})),
			topics.PositionRejections, []string{"Teleport"}},
	}
	manual, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer manual.Close()
	for _, c := range cases {
		if c.rec.Context != nil && c.rec.Context.Value(manualPartition{}) != nil {
			kitProduce(t, manual, c.rec)
			continue
		}
		kitProduce(t, cl, c.rec)
	}
	for _, c := range cases {
		var found *topics.Rejection
		sum := sha256.Sum256(c.rec.Value)
		kitWaitFor(t, 30*time.Second, c.name+" rejected", func() (bool, string) {
			for _, r := range kitReadRejections(t, addr, c.topic) {
				if r.Topic == c.rec.Topic && (bytes.Equal(r.Original(), c.rec.Value) ||
					(r.Truncated && r.OriginalSHA256 == hex.EncodeToString(sum[:]) && r.OriginalSize == int64(len(c.rec.Value)))) {
					found = &r
					return true, ""
				}
			}
			return false, "not on " + c.topic
		})
		for _, want := range c.reason {
			if !strings.Contains(found.Reason, want) {
				t.Errorf("%s: reason %q does not mention %q", c.name, found.Reason, want)
			}
		}
		if found.Topic != c.rec.Topic {
			t.Errorf("%s: rejection names topic %s, want %s", c.name, found.Topic, c.rec.Topic)
		}
		t.Logf("%s -> %s: %s", c.name, c.topic, found.Reason)
	}

	// A hand-made Place that passes every check of the order (a fresh UUID,
	// a fresh time) is not a hedge its position has pending: the order
	// manager fails it after the grace and never places it at the broker.
	forged := "5f0c2d1e-7a3b-4c6d-8e9f-0a1b2c3d4e5f"
	kitProduce(t, cl, kitCommandRecord(t, topics.OffchainOrderCommands, forged,
		envFor(topics.OffchainOrder, forged, "test:forged", "Place", offchainorder.Place{
			Symbol: market.Symbol(sym), Shares: decimal.NewFromInt(1), Direction: market.Buy, Broker: market.DryRun})))
	kitWaitFor(t, 30*time.Second, "forged order failed", func() (bool, string) {
		s, err := kitTakeSnapshot(addr)
		if err != nil {
			return false, err.Error()
		}
		h := s.orders[forged]
		if h == nil {
			return false, "no events"
		}
		last := h.events[len(h.events)-1]
		return last.EventType == (offchainorder.Failed{}).EventType() && strings.Contains(string(last.raw), "not placed"), last.EventType
	})
	if entries, err := dryrun.ReadLedger(ledger); err != nil || slices.ContainsFunc(entries, func(e dryrun.LedgerEntry) bool { return e.ClientOrderID == forged }) {
		t.Errorf("forged order reached the broker (ledger err %v)", err)
	}

	// Nothing changed: the refused commands produced no event.
	snap = kitWaitSettled(t, addr, first, settleTimeout, p.check)
	after := kitCheckFinal(t, snap, first, []string{ledger})
	for s, b := range before {
		if a := after[s]; !a.net.Equal(b.net) || len(a.placed) != len(b.placed) || a.fillEvts != b.fillEvts {
			t.Errorf("%s changed: net %s -> %s, hedges %d -> %d", s, b.net, a.net, len(b.placed), len(a.placed))
		}
	}
	if snap.orders["no-such-order"] != nil {
		t.Errorf("an order was created by a refused command")
	}

	// Later fills are processed as if nothing happened.
	kitProduceFills(t, cl, later)
	snap = kitWaitSettled(t, addr, fills, settleTimeout, p.check)
	kitCheckFinal(t, snap, fills, []string{ledger})
}

// wrongPartition sends rec to a partition other than the one goka's hash
// gives its key, as a client with another default partitioner would.
func wrongPartition(t *testing.T, rec *kgo.Record) *kgo.Record {
	t.Helper()
	rec.Partition = (topics.PartitionFor(rec.Key, testPartitions) + 1) % testPartitions
	rec.Context = context.WithValue(context.Background(), manualPartition{}, true)
	return rec
}

type manualPartition struct{}

// withVersion rewrites the command_version of an encoded command record.
func withVersion(t *testing.T, rec *kgo.Record, v int) *kgo.Record {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(rec.Value, &m); err != nil {
		t.Fatal(err)
	}
	m["command_version"] = v
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	rec.Value = b
	return rec
}

// TestRestartMidStream stops the in-process pipeline (context cancelled)
// twice while fills are being produced, and starts it again on the same
// state dir, ledger and broker: every fill is applied exactly once, no PnL
// record is lost or doubled, no hedge is placed twice.
func TestRestartMidStream(t *testing.T) {
	addr := kitStartBroker(t)
	dir := t.TempDir()
	ledger := filepath.Join(dir, "ledger.jsonl")
	cfg := testRunConfig(t, addr, filepath.Join(dir, "state"), ledger)
	p := kitStartPipeline(t, "pipeline-1", cfg)
	cl := kitNewProducer(t, addr)

	fills := kitGenFills(5, 900, 5, 37_000_000)
	stream := kitStartStream(t, cl, fills, 40*time.Millisecond)
	for round := range 2 {
		stream.waitProduced(t, stream.produced.Load()+150)
		p.stop(t)
		t.Logf("pipeline-%d stopped with %d fills produced", round+1, stream.produced.Load())
		p = kitStartPipeline(t, fmt.Sprintf("pipeline-%d", round+2), cfg)
	}
	stream.wait(t)
	snap := kitWaitSettled(t, addr, fills, settleTimeout, p.check)
	kitCheckFinal(t, snap, fills, []string{ledger})
}
