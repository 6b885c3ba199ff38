package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/hedgeline/hedgeline/brokers"
	"github.com/hedgeline/hedgeline/brokers/dryrun"
	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/hedgeline/hedgeline/processors/offchainorder"
	"github.com/hedgeline/hedgeline/processors/onchaintrade"
	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/hedgeline/hedgeline/sources/file"
	"github.com/hedgeline/hedgeline/topics"
)

// TestMigratedHistoryCountsOnce is issue 13's counting rule end to end
// (docs/migration.md), with the commands the migrate tool produces made
// by hand, in the tool's order (positions, then their history, then
// orders once the positions exist):
//
//	(a) the legacy database: trades AAPL 10 Buy, TSLA 5 Sell,
//	    GOOGL 3 Buy; positions AAPL net 10, TSLA net -5; two filled orders.
//	    Exactly 7 Migrated events, no hedge, nets unchanged, no position
//	    for GOOGL, nothing rejected.
//	(b) the upstream mixed-venue example (on-chain Buy 100 @10, off-chain
//	    Sell 50 @11, on-chain Sell 30 @12: realized 50 then 60, net 20)
//	    migrated as MSFT and continued by a live Sell 5 @13 books and
//	    positions exactly what NVDA books with the same fills live from
//	    the start.
//	(c) AMZN migrated at net -2 (legacy Sell 5, a Buy 3 hedge in flight
//	    at the broker): the dry-run broker fills the legacy order, net
//	    stays -2, PnL books it, and only then is the rest hedged (Buy 2).
func TestMigratedHistoryCountsOnce(t *testing.T) {
	d := decimal.RequireFromString
	addr := kitStartBroker(t)
	dir := t.TempDir()
	ledger := filepath.Join(dir, "ledger.jsonl")
	ctx := context.Background()

	// The legacy bot's in-flight order, accepted by the (shared) dry-run
	// broker under the legacy bot's own client order id.
	legacy, err := dryrun.Open(dryrun.Config{Ledger: ledger, Price: dryrun.FixedPrice(d("11")), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	pl, err := legacy.Place(ctx, brokers.Order{ClientOrderID: "legacy-bot-9", Symbol: "AMZN", Shares: d("3"), Direction: market.Buy})
	if err != nil {
		t.Fatal(err)
	}
	if err := legacy.Close(); err != nil {
		t.Fatal(err)
	}

	p := kitStartPipeline(t, "pipeline", testRunConfig(t, addr, filepath.Join(dir, "state"), ledger,
		"--threshold-shares", "1000", "--dry-run-price", "11"))
	cl := kitNewProducer(t, addr)
	now := time.Now().UTC()
	n := 0
	command := func(topic, aggType, id, key string, c aggregate.Command) {
		t.Helper()
		payload, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		n++
		cmdID := fmt.Sprintf("test-migrate:%s:%s:%d", id, c.CommandType(), n)
		kitProduce(t, cl, kitCommandRecord(t, topic, key, topics.CommandEnvelope{AggregateType: aggType, AggregateID: id,
			CommandID: cmdID, CommandType: c.CommandType(), CommandVersion: topics.CommandVersion, IssuedAt: time.Now().UTC(),
			CorrelationID: cmdID, CausationID: "test-migrate", Payload: payload}))
	}
	toPosition := func(sym string, c aggregate.Command) {
		t.Helper()
		command(topics.PositionCommands, topics.Position, sym, sym, c)
	}
	shares := func(s string) market.Threshold {
		th, err := market.SharesThreshold(d(s))
		if err != nil {
			t.Fatal(err)
		}
		return th
	}
	ex := market.DefaultExecution(market.DryRun)
	legacyAt := func(min int) time.Time { return now.Add(-48 * time.Hour).Add(time.Duration(min) * time.Minute) }
	history := func(sym, venue, src string, dir market.Direction, q, price string, min int) {
		t.Helper()
		toPosition(sym, position.RecordMigratedFill{Symbol: market.Symbol(sym), Venue: venue, SourceID: src, Direction: dir,
			Amount: d(q), PriceUSDC: d(price), At: legacyAt(min)})
	}
	tradeID := func(n uint64) market.TradeID {
		return market.TradeID{TxHash: fmt.Sprintf("0x%064x", 0x1e9ac0+n), LogIndex: 1}
	}

	// (a) trades (block 0: the legacy table had none), positions, history.
	legacyTrades := []struct {
		token string
		dir   market.Direction
		q     string
	}{{"tAAPL", market.Buy, "10"}, {"tTSLA", market.Sell, "5"}, {"tGOOGL", market.Buy, "3"}}
	var legacyIDs []string
	for i, lt := range legacyTrades {
		id := tradeID(uint64(i))
		tok, err := market.ParseTokenized(lt.token)
		if err != nil {
			t.Fatal(err)
		}
		legacyIDs = append(legacyIDs, id.String())
		command(topics.OnChainTradeCommands, topics.OnChainTrade, id.String(), topics.SymbolKey(string(tok.Base), id.String()),
			onchaintrade.Migrate{TradeID: id, Symbol: lt.token, Amount: d(lt.q), Direction: lt.dir, PriceUSDC: d("100"),
				BlockTimestamp: legacyAt(i)})
	}
	toPosition("AAPL", position.Migrate{Symbol: "AAPL", NetPosition: d("10"), AccumulatedLong: d("10"), AccumulatedShort: d("0"),
		Threshold: shares("1"), Execution: ex})
	toPosition("TSLA", position.Migrate{Symbol: "TSLA", NetPosition: d("-5"), AccumulatedLong: d("0"), AccumulatedShort: d("5"),
		Threshold: shares("1"), Execution: ex})
	history("AAPL", position.VenueOnChain, legacyIDs[0], market.Buy, "10", "100", 0)
	history("TSLA", position.VenueOnChain, legacyIDs[1], market.Sell, "5", "100", 1)
	// (b) and (c): positions and their legacy fills in legacy time order.
	toPosition("MSFT", position.Migrate{Symbol: "MSFT", NetPosition: d("20"), AccumulatedLong: d("100"), AccumulatedShort: d("30"),
		Threshold: shares("1000"), Execution: ex})
	history("MSFT", position.VenueOnChain, tradeID(10).String(), market.Buy, "100", "10", 10)
	history("MSFT", position.VenueOffChain, "legacy-exec-11", market.Sell, "50", "11.00", 11)
	history("MSFT", position.VenueOnChain, tradeID(12).String(), market.Sell, "30", "12", 12)
	const amznExec = "9d6b3f0e-1c2a-5b7d-8e4f-00000000a2a9"
	toPosition("AMZN", position.Migrate{Symbol: "AMZN", NetPosition: d("-2"), AccumulatedLong: d("0"), AccumulatedShort: d("5"),
		Threshold: shares("1"), Execution: ex, Pending: &position.MigratedPending{ExecutionID: amznExec, Shares: d("3"), Direction: market.Buy}})
	history("AMZN", position.VenueOnChain, tradeID(20).String(), market.Sell, "5", "12", 20)

	kitWaitFor(t, 30*time.Second, "migrated positions", func() (bool, string) {
		ps, _ := readPositions(t, addr)
		for sym, want := range map[string]int{"AAPL": 2, "TSLA": 2, "MSFT": 4, "AMZN": 2} {
			if got := len(ps[sym].events); got < want {
				return false, fmt.Sprintf("%s has %d events, want %d", sym, got, want)
			}
		}
		return true, ""
	})

	// Orders, once their positions exist: (a)'s two filled ones, and
	// AMZN's in flight.
	filledOrder := func(exec, sym string, dir market.Direction, q, price, brokerID string, row uint64) {
		command(topics.OffchainOrderCommands, topics.OffchainOrder, exec, exec, offchainorder.Migrate{Symbol: market.Symbol(sym),
			Shares: d(q), Direction: dir, Broker: market.DryRun, Status: offchainorder.StatusFilled, BrokerOrderID: &brokerID,
			Price: ptrTo(d(price)), ExecutedAt: ptrTo(legacyAt(int(row))), LegacyID: row})
	}
	filledOrder("9d6b3f0e-1c2a-5b7d-8e4f-00000000a001", "AAPL", market.Sell, "2", "151", "LEG-A", 1)
	filledOrder("9d6b3f0e-1c2a-5b7d-8e4f-00000000a002", "TSLA", market.Buy, "1", "199", "LEG-T", 2)
	command(topics.OffchainOrderCommands, topics.OffchainOrder, amznExec, amznExec, offchainorder.Migrate{Symbol: "AMZN",
		Shares: d("3"), Direction: market.Buy, Broker: market.DryRun, Status: offchainorder.StatusSubmitted,
		BrokerOrderID: &pl.BrokerOrderID, ExecutedAt: ptrTo(legacyAt(21)), LegacyID: 9})

	// (b) live: NVDA gets the same fills from the start, its off-chain
	// Sell 50 as a manual hedge the dry-run broker fills at 11; then both
	// continue with on-chain Sell 5 @13.
	bt := now.Add(-time.Minute).Truncate(time.Second)
	live := func(n uint64, token string, dir market.Direction, q, price string) file.Fill {
		tok, err := market.ParseTokenized(token)
		if err != nil {
			t.Fatal(err)
		}
		return file.Fill{TradeID: tradeID(100 + n), BlockNumber: 1000 + n, BlockTimestamp: bt.Add(time.Duration(n) * time.Second),
			Symbol: tok, Direction: dir, Amount: d(q), PriceUSDC: d(price)}
	}
	waitFor := func(sym, what string, ok func([]aggregate.Event) bool) {
		t.Helper()
		kitWaitFor(t, settleTimeout, sym+" "+what, func() (bool, string) {
			ps, _ := readPositions(t, addr)
			return ok(ps[sym].events), fmt.Sprintf("%s events: %s", sym, ps[sym].types())
		})
	}
	count := func(evs []aggregate.Event, typ string) int {
		return len(slices.DeleteFunc(slices.Clone(evs), func(e aggregate.Event) bool { return e.EventType() != typ }))
	}
	onchainFilled, offFilled := (position.OnChainOrderFilled{}).EventType(), (position.OffChainOrderFilled{}).EventType()
	kitProduceFills(t, cl, []file.Fill{live(1, "tNVDA", market.Buy, "100", "10")})
	waitFor("NVDA", "first fill", func(evs []aggregate.Event) bool { return count(evs, onchainFilled) == 1 })
	toPosition("NVDA", position.PlaceOffChainOrder{Symbol: "NVDA", Shares: d("50"), Direction: market.Sell, Broker: market.DryRun})
	waitFor("NVDA", "manual hedge filled", func(evs []aggregate.Event) bool { return count(evs, offFilled) == 1 })
	kitProduceFills(t, cl, []file.Fill{live(2, "tNVDA", market.Sell, "30", "12"), live(3, "tNVDA", market.Sell, "5", "13"),
		live(4, "tMSFT", market.Sell, "5", "13")})
	waitFor("NVDA", "live fills", func(evs []aggregate.Event) bool { return count(evs, onchainFilled) == 3 })
	waitFor("MSFT", "live fill", func(evs []aggregate.Event) bool { return count(evs, onchainFilled) == 1 })
	// (c): the legacy order's fill, then the rest hedged and filled.
	waitFor("AMZN", "legacy order filled and the rest hedged", func(evs []aggregate.Event) bool { return count(evs, offFilled) == 2 })
	kitWaitFor(t, 30*time.Second, "pnl records", func() (bool, string) {
		got := pnlBySymbol(t, addr)
		return len(got["MSFT"]) == 4 && len(got["NVDA"]) == 4 && len(got["AMZN"]) == 3,
			fmt.Sprintf("MSFT %d, NVDA %d, AMZN %d records", len(got["MSFT"]), len(got["NVDA"]), len(got["AMZN"]))
	})
	// A second run of the migration (history again, after the live fill):
	// nothing new, nothing rejected. The threshold update behind it tells
	// when the position has read them.
	history("MSFT", position.VenueOnChain, tradeID(10).String(), market.Buy, "100", "10", 10)
	history("MSFT", position.VenueOffChain, "legacy-exec-11", market.Sell, "50", "11.00", 11)
	history("MSFT", position.VenueOnChain, tradeID(12).String(), market.Sell, "30", "12", 12)
	toPosition("MSFT", position.UpdateThreshold{Threshold: shares("999")})
	waitFor("MSFT", "threshold update", func(evs []aggregate.Event) bool {
		return count(evs, (position.ThresholdUpdated{}).EventType()) == 1
	})
	p.check(t)

	ps, problems := readPositions(t, addr)
	if got := count(ps["MSFT"].events, (position.MigratedFillRecorded{}).EventType()); got != 3 {
		problems = append(problems, fmt.Sprintf("MSFT recorded %d legacy fills, want 3 (a re-run records nothing)", got))
	}
	// (a)
	migrated := 0
	for _, topic := range []string{topics.OnChainTradeEvents, topics.PositionEvents, topics.OffchainOrderEvents} {
		evs, err := kitDecodeEvents(kitReadTopic(t, addr, topic))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if !strings.HasSuffix(e.EventType, "::Migrated") {
				continue
			}
			switch e.AggregateID {
			case "MSFT", "AMZN", amznExec: // (b) and (c)
			default:
				migrated++
			}
		}
	}
	if migrated != 7 {
		problems = append(problems, fmt.Sprintf("(a): %d Migrated events, want 7 (3 trades, 2 positions, 2 orders)", migrated))
	}
	for sym, net := range map[string]string{"AAPL": "10", "TSLA": "-5"} {
		h := ps[sym]
		if s := h.state(); !s.Net.Equal(d(net)) || count(h.events, (position.OffChainOrderPlaced{}).EventType()) != 0 {
			problems = append(problems, fmt.Sprintf("(a) %s: net %s (want %s), events %s; want no hedge", sym, s.Net, net, h.types()))
		}
	}
	if h, ok := ps["GOOGL"]; ok {
		problems = append(problems, "(a): a migrated trade opened a GOOGL position: "+h.types())
	}
	for _, topic := range []string{topics.PositionRejections, topics.OffchainOrderRejections, topics.OnChainTradeRejections} {
		for _, r := range kitReadRejections(t, addr, topic) {
			problems = append(problems, fmt.Sprintf("rejection on %s: %s %s: %s", topic, r.AggregateType, r.AggregateID, r.Reason))
		}
	}

	// (b): the same book and position as if the bot had never been switched.
	pnls := pnlBySymbol(t, addr)
	if m, l := pnls["MSFT"], pnls["NVDA"]; !slices.Equal(m, l) {
		problems = append(problems, fmt.Sprintf("(b) PnL migrated then live:\n  %q\nlive from the start:\n  %q", m, l))
	}
	want := []string{"onchain Buy 100@10 realized 0 cumulative 0 net 100", "offchain Sell 50@11 realized 50 cumulative 50 net 50",
		"onchain Sell 30@12 realized 60 cumulative 110 net 20", "onchain Sell 5@13 realized 15 cumulative 125 net 15"}
	if !slices.Equal(pnls["MSFT"], want) {
		problems = append(problems, fmt.Sprintf("(b) MSFT PnL %q, want %q", pnls["MSFT"], want))
	}
	m, l := ps["MSFT"].state(), ps["NVDA"].state()
	if !m.Net.Equal(l.Net) || !m.Net.Equal(d("15")) || !m.AccumulatedLong.Equal(l.AccumulatedLong) ||
		!m.AccumulatedShort.Equal(l.AccumulatedShort) || m.Pending != nil || l.Pending != nil {
		problems = append(problems, fmt.Sprintf("(b) positions: migrated %+v, live %+v", m, l))
	}

	// (c): nothing placed before the legacy order resolved; its fill moved
	// no net; PnL booked it; the broker got one new order, not the legacy
	// one again.
	amzn := ps["AMZN"]
	var order []string
	net := decimal.Zero
	for _, e := range amzn.events {
		switch e := e.(type) {
		case position.OffChainOrderFilled:
			order = append(order, "filled "+e.ExecutionID)
		case position.OffChainOrderPlaced:
			order = append(order, fmt.Sprintf("placed %s %s", e.Direction, e.Shares))
			net = e.TriggerReason.NetPosition
		}
	}
	if len(order) != 3 || order[0] != "filled "+amznExec || order[1] != "placed Buy 2" || !net.Equal(d("-2")) {
		problems = append(problems, fmt.Sprintf("(c) AMZN hedges %v (re-hedge at net %s), want the legacy order filled first, "+
			"then Buy 2 at net -2", order, net))
	}
	if s := amzn.state(); !s.Net.IsZero() || s.Pending != nil {
		problems = append(problems, fmt.Sprintf("(c) AMZN ends at net %s, pending %+v", s.Net, s.Pending))
	}
	wantAMZN := []string{"onchain Sell 5@12 realized 0 cumulative 0 net -5", "offchain Buy 3@11 realized 3 cumulative 3 net -2",
		"offchain Buy 2@11 realized 2 cumulative 5 net 0"}
	if !slices.Equal(pnls["AMZN"], wantAMZN) {
		problems = append(problems, fmt.Sprintf("(c) AMZN PnL %q, want %q", pnls["AMZN"], wantAMZN))
	}
	p.stop(t)
	after, err := dryrun.Open(dryrun.Config{Ledger: ledger, Price: dryrun.FixedPrice(d("11")), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer after.Close()
	entries, err := after.Orders()
	if err != nil {
		t.Fatal(err)
	}
	var placed []string
	for _, e := range entries {
		placed = append(placed, fmt.Sprintf("%s %s %s", e.Symbol, e.Side, e.Quantity))
	}
	slices.Sort(placed)
	if want := []string{"AMZN Buy 2", "AMZN Buy 3", "NVDA Sell 50"}; !slices.Equal(placed, want) {
		problems = append(problems, fmt.Sprintf("broker orders %v, want %v (the legacy one and two new)", placed, want))
	}
	kitReport(t, problems)
}

func ptrTo[T any](v T) *T { return &v }

// positionEvents is one position's decoded events, in sequence order.
type positionEvents struct{ events []aggregate.Event }

func (h positionEvents) state() position.State {
	return aggregate.Replay(position.Definition, h.events).State
}

func (h positionEvents) types() string {
	var out []string
	for _, e := range h.events {
		out = append(out, strings.TrimPrefix(e.EventType(), "PositionEvent::"))
	}
	return strings.Join(out, ", ")
}

// readPositions folds position.events per symbol.
func readPositions(t testing.TB, addr string) (map[string]positionEvents, []string) {
	t.Helper()
	evs, err := kitDecodeEvents(kitReadTopic(t, addr, topics.PositionEvents))
	if err != nil {
		t.Fatal(err)
	}
	hs, problems := kitFoldHistories(evs)
	out := map[string]positionEvents{}
	for sym, h := range hs {
		var pe positionEvents
		for _, e := range h.events {
			ev, err := position.Events.Decode(e.EventType, e.Payload)
			if err != nil {
				t.Fatalf("%s#%d: %v", sym, e.Sequence, err)
			}
			pe.events = append(pe.events, ev)
		}
		out[sym] = pe
	}
	return out, problems
}

// pnlBySymbol renders each symbol's pnl.events records without their
// sequences and times, which differ between a migrated and a live run.
func pnlBySymbol(t testing.TB, addr string) map[string][]string {
	t.Helper()
	recs, err := kitDecodePnL(kitReadTopic(t, addr, topics.PnLEvents))
	if err != nil {
		t.Fatal(err)
	}
	bySym, problems := kitDedupePnL(recs)
	if len(problems) > 0 {
		t.Fatal(strings.Join(problems, "\n"))
	}
	out := map[string][]string{}
	for sym, rs := range bySym {
		for _, r := range rs {
			out[sym] = append(out[sym], fmt.Sprintf("%s %s %s@%s realized %s cumulative %s net %s", r.Venue, r.Direction,
				r.Quantity, r.Price, r.RealizedPnL, r.CumulativePnL, r.NetPositionAfter))
		}
	}
	return out
}
