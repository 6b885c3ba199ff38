package onchaintrade_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	ot "github.com/hedgeline/hedgeline/processors/onchaintrade"
)

// forkHash is the hash the source had ingested for the first orphaned block.
const forkHash = "0x1111111111111111111111111111111111111111111111111111111111111111"

var revertAt = meta.At.Add(time.Minute)

func revertSPLG() ot.Revert {
	return ot.Revert{TradeID: splgID, BlockNumber: 38_000_000, Reason: ot.RevertReorg,
		ForkBlock: 37_999_999, ForkHash: forkHash}
}

func revertedSPLG() ot.Reverted {
	f := filledSPLG()
	return ot.Reverted{
		TradeID: f.TradeID, Symbol: f.Symbol, BaseSymbol: f.BaseSymbol, Amount: f.Amount,
		Direction: f.Direction, PriceUSDC: f.PriceUSDC, BlockNumber: f.BlockNumber,
		BlockTimestamp: f.BlockTimestamp, FillSequence: 1, Reason: ot.RevertReorg,
		ForkBlock: 37_999_999, ForkHash: forkHash, RevertedAt: meta.At,
	}
}

func TestRevertFilledTradeEmitsRevertedWithTheFill(t *testing.T) {
	for name, l := range map[string]aggregate.Lifecycle[ot.State]{
		"filled":   given(filledSPLG()),
		"enriched": given(filledSPLG(), enrichedCOIN()),
	} {
		t.Run(name, func(t *testing.T) {
			c := revertSPLG()
			c.ForkHash = strings.ToUpper(forkHash[:2]) + strings.ToUpper(forkHash[2:]) // normalized
			c.TradeID.TxHash = "0x" + strings.ToUpper(splgTx[2:])
			next, got, err := when(l, c)
			thenEvents(t, got, err, revertedSPLG())
			if !next.State.Reverted() || next.State.Reversal.Reason != ot.RevertReorg || next.State.Reversal.ForkBlock != 37_999_999 {
				t.Fatalf("state after revert: %+v", next.State)
			}
			if next.State.Amount.String() != "2" || next.Status != aggregate.Live {
				t.Fatalf("the reverted fill is kept for the views: %+v %s", next.State, next.Status)
			}
		})
	}
}

func TestRevertManualNamesNoFork(t *testing.T) {
	c := ot.Revert{TradeID: splgID, BlockNumber: 38_000_000, Reason: ot.RevertManual}
	want := revertedSPLG()
	want.Reason, want.ForkBlock, want.ForkHash = ot.RevertManual, 0, ""
	_, got, err := when(given(filledSPLG()), c)
	thenEvents(t, got, err, want)

	c.ForkBlock = 5
	_, got, err = when(given(filledSPLG()), c)
	thenField(t, err, "fork_block")
	if got != nil {
		t.Fatal("events on a refused command")
	}
}

func TestRevertTwiceIsAlreadyReverted(t *testing.T) {
	_, got, err := when(given(filledSPLG(), revertedSPLG()), revertSPLG())
	thenError(t, got, err, ot.ErrAlreadyReverted)
	// The repeat guard wins over the fields, like Witness's.
	_, got, err = when(given(filledSPLG(), revertedSPLG()), ot.Revert{})
	thenError(t, got, err, ot.ErrAlreadyReverted)
}

func TestRevertUnknownTradeIsNotFilled(t *testing.T) {
	_, got, err := when(given(), revertSPLG())
	thenError(t, got, err, ot.ErrNotFilled)
	thenError(t, got, err, aggregate.ErrUninitialized)
}

func TestRevertRejectsInvalidFields(t *testing.T) {
	for field, mutate := range map[string]func(*ot.Revert){
		"trade_id":     func(c *ot.Revert) { c.TradeID.LogIndex = 4 },
		"block_number": func(c *ot.Revert) { c.BlockNumber = 38_000_001 },
		"reason":       func(c *ot.Revert) { c.Reason = "oops" },
		"fork_block":   func(c *ot.Revert) { c.ForkBlock = 38_000_001 }, // after the fill: not orphaned
		"fork_hash":    func(c *ot.Revert) { c.ForkHash = "0x12" },
	} {
		t.Run(field, func(t *testing.T) {
			c := revertSPLG()
			mutate(&c)
			_, got, err := when(given(filledSPLG()), c)
			thenField(t, err, field)
			if got != nil {
				t.Fatal("events on a refused command")
			}
		})
	}
	c := revertSPLG()
	c.ForkBlock = 0
	_, _, err := when(given(filledSPLG()), c)
	thenField(t, err, "fork_block")
}

func TestEnrichRevertedTradeIsRefused(t *testing.T) {
	_, got, err := when(given(filledSPLG(), revertedSPLG()), enrichCOIN())
	thenError(t, got, err, ot.ErrReverted)
}

// The same transaction mined again in the canonical chain: a new fill of the
// same trade id, at its new block, that can itself be reverted again.
func TestWitnessAfterRevertRecordsTheFillAgain(t *testing.T) {
	l := given(filledSPLG(), enrichedCOIN(), revertedSPLG())
	c := witnessSPLG()
	c.BlockNumber, c.BlockTimestamp = 38_000_002, blockTime.Add(4*time.Second)
	m := aggregate.Meta{CommandID: "cmd-2", At: revertAt}
	next, got, err := aggregate.Execute(ot.Definition, l, c, m)
	want := filledSPLG()
	want.BlockNumber, want.BlockTimestamp, want.FilledAt = 38_000_002, c.BlockTimestamp, revertAt
	thenEvents(t, got, err, want)
	thenState(t, next, ot.State{
		TradeID: splgID, Symbol: "tSPLG", BaseSymbol: "SPLG", Amount: dec("2"),
		Direction: market.Sell, PriceUSDC: dec("80.07753876"), BlockNumber: 38_000_002,
		BlockTimestamp: c.BlockTimestamp, FilledAt: revertAt, FillSequence: 4,
	})
	if next.Version != 4 {
		t.Fatalf("version %d", next.Version)
	}
	// The new incarnation is live: a second Witness is the duplicate guard,
	// and a revert must name its block and fill sequence.
	_, _, err = aggregate.Execute(ot.Definition, next, c, m)
	if !errors.Is(err, ot.ErrAlreadyFilled) {
		t.Fatalf("second witness: %v", err)
	}
	_, _, err = aggregate.Execute(ot.Definition, next, revertSPLG(), m)
	thenField(t, err, "block_number")
	r := revertSPLG()
	r.BlockNumber = 38_000_002
	_, got, err = aggregate.Execute(ot.Definition, next, r, m)
	if err != nil || got[0].(ot.Reverted).FillSequence != 4 {
		t.Fatalf("revert of the second fill: %v %+v", err, got)
	}
}

func TestWitnessAfterRevertChecksTheFields(t *testing.T) {
	c := witnessSPLG()
	c.Amount = dec("0")
	_, got, err := when(given(filledSPLG(), revertedSPLG()), c)
	thenField(t, err, "amount")
	if got != nil {
		t.Fatal("events on a refused command")
	}
}

func TestEvolveRevertedChecksTheFill(t *testing.T) {
	for name, events := range map[string][]aggregate.Event{
		"before the fill": {revertedSPLG()},
		"twice":           {filledSPLG(), revertedSPLG(), revertedSPLG()},
		"another amount": {filledSPLG(), func() ot.Reverted {
			r := revertedSPLG()
			r.Amount = dec("3")
			return r
		}()},
		"another incarnation": {filledSPLG(), func() ot.Reverted {
			r := revertedSPLG()
			r.FillSequence = 2
			return r
		}()},
		"migrated again on a reverted trade": {filledSPLG(), revertedSPLG(), migratedSPLG()},
	} {
		t.Run(name, func(t *testing.T) {
			if l := given(events...); l.Status != aggregate.Failed {
				t.Fatalf("status %q, want failed", l.Status)
			}
		})
	}
}
