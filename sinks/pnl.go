package sinks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/shopspring/decimal"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/pnl"
	"github.com/hedgeline/hedgeline/topics"
)

// MetricsPnLTable has one row per record on pnl.events.
var MetricsPnLTable = Table{Name: "metrics_pnl", Columns: []string{
	"symbol", "position_sequence", "venue", "direction", "quantity", "price",
	"realized_pnl", "opened", "cumulative_pnl", "net_position_after", "occurred_at", "revert",
	"counter_trade_pnl", "onchain_netting_pnl", "directional_exposure_pnl", "cost_basis",
}}

// PnLSummaryTable has one row per symbol, folded from the same records.
var PnLSummaryTable = Table{Name: "pnl_summary", Columns: []string{
	"symbol", "last_sequence", "realized_pnl", "net_position", "onchain_volume", "offchain_volume",
	"fills", "last_occurred_at", "state",
	"counter_trade_pnl", "onchain_netting_pnl", "directional_exposure_pnl", "cost_basis",
}}

// PnLState is the pnl projection's fold per symbol, stored in
// pnl_summary.state.
type PnLState struct {
	RealizedPnL    decimal.Decimal `json:"realized_pnl"` // cumulative, as of the last record
	NetPosition    decimal.Decimal `json:"net_position"`
	OnchainVolume  decimal.Decimal `json:"onchain_volume"`  // shares, both directions
	OffchainVolume decimal.Decimal `json:"offchain_volume"` // shares, both directions
	Fills          uint64          `json:"fills"`
	LastOccurredAt time.Time       `json:"last_occurred_at"`
	// Realized PnL by attribution bucket, cumulative; states folded
	// before attribution lack them (a replay rebuilds them).
	CounterTrade        decimal.Decimal `json:"counter_trade_pnl"`
	OnchainNetting      decimal.Decimal `json:"onchain_netting_pnl"`
	DirectionalExposure decimal.Decimal `json:"directional_exposure_pnl"`
	// CostBasis of the open lots after the last record; nil when that
	// record predates it.
	CostBasis *decimal.Decimal `json:"cost_basis,omitempty"`
}

// NewPnLProjection projects pnl.events into metrics_pnl and pnl_summary.
// Records are keyed by symbol and versioned by the position sequence of the
// fill they book; each names the previous one, so a missing record is
// waited for (parked_events), never skipped.
func NewPnLProjection() *StateProjection[PnLState, pnl.Record] {
	p, err := NewStateProjection(StateConfig[PnLState, pnl.Record]{
		Name: "pnl", Topic: topics.PnLEvents, AggregateType: topics.Position,
		StateTable: PnLSummaryTable, KeyColumn: "symbol", VersionColumn: "last_sequence",
		// A record lost by the broker and re-published later waits for,
		// and is never skipped by, the ones after it.
		Contiguous: true, Linked: true,
		SideTables: []Table{MetricsPnLTable},
		Decode:     decodePnLRecord,
		Apply:      applyPnL,
		Row:        pnlSummaryRow,
	})
	if err != nil {
		panic(err) // static configuration
	}
	return p
}

// decodePnLRecord reads and checks a pnl.Record (plain JSON, no envelope).
func decodePnLRecord(r *kgo.Record) (Item[pnl.Record], error) {
	var rec pnl.Record
	dec := json.NewDecoder(bytes.NewReader(r.Value))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil {
		return Item[pnl.Record]{}, fmt.Errorf("undecodable pnl record: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Item[pnl.Record]{}, errors.New("undecodable pnl record: trailing data")
	}
	it := Item[pnl.Record]{Key: string(rec.Symbol), Version: rec.PositionSequence, After: rec.PreviousSequence,
		AggregateID: string(rec.Symbol), Event: rec}
	name := fmt.Sprintf("pnl record %s#%d", rec.Symbol, rec.PositionSequence)
	var errs []error
	if _, err := market.NewSymbol(string(rec.Symbol)); err != nil {
		errs = append(errs, fmt.Errorf("symbol: %w", err))
	}
	if !rec.Venue.Valid() {
		errs = append(errs, fmt.Errorf("venue %q: want onchain or offchain", rec.Venue))
	}
	if !rec.Direction.Valid() {
		errs = append(errs, fmt.Errorf("direction %q: want Buy or Sell", rec.Direction))
	}
	if rec.PositionSequence == 0 {
		errs = append(errs, errors.New("position_sequence must be >= 1"))
	}
	if prev := rec.PreviousSequence; prev != nil && *prev >= rec.PositionSequence {
		errs = append(errs, fmt.Errorf("previous_sequence %d must be below position_sequence", *prev))
	}
	if rec.OccurredAt.IsZero() {
		errs = append(errs, errors.New("occurred_at is required"))
	}
	errs = append(errs, market.PositiveAmount("quantity", rec.Quantity), market.PositiveAmount("price", rec.Price))
	for _, f := range []struct {
		name string
		v    decimal.Decimal
	}{{"realized_pnl", rec.RealizedPnL}, {"cumulative_pnl", rec.CumulativePnL}, {"net_position_after", rec.NetPositionAfter}} {
		if err := market.CheckAmount(f.v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return it, fmt.Errorf("%s: %w", name, err)
	}
	return it, nil
}

func applyPnL(s PnLState, _ bool, it Item[pnl.Record], emit Emit) (PnLState, error) {
	r := it.Event
	next := s
	var err error
	switch {
	case r.Revert: // the withdrawn fill counts no more
		next.OnchainVolume, err = market.Sub(s.OnchainVolume, r.Quantity)
	case r.Venue == pnl.Onchain:
		next.OnchainVolume, err = market.Add(s.OnchainVolume, r.Quantity)
	default:
		next.OffchainVolume, err = market.Add(s.OffchainVolume, r.Quantity)
	}
	if err != nil {
		return s, fmt.Errorf("pnl record %s#%d: volume: %w", r.Symbol, r.PositionSequence, err)
	}
	next.RealizedPnL, next.NetPosition, next.CostBasis = r.CumulativePnL, r.NetPositionAfter, r.CostBasis
	attr := attributionOf(r)
	if next.CounterTrade, err = market.Add(s.CounterTrade, attr.CounterTrade); err == nil {
		if next.OnchainNetting, err = market.Add(s.OnchainNetting, attr.OnchainNetting); err == nil {
			next.DirectionalExposure, err = market.Add(s.DirectionalExposure, attr.DirectionalExposure)
		}
	}
	if err != nil {
		return s, fmt.Errorf("pnl record %s#%d: attribution: %w", r.Symbol, r.PositionSequence, err)
	}
	if r.Revert {
		next.Fills = max(next.Fills, 1) - 1
	} else {
		next.Fills++
	}
	next.LastOccurredAt = r.OccurredAt.UTC()
	emit(MetricsPnLTable.Name, string(r.Symbol)+"#"+strconv.FormatUint(r.PositionSequence, 10), []any{
		string(r.Symbol), r.PositionSequence, string(r.Venue), string(r.Direction), r.Quantity, r.Price,
		r.RealizedPnL, boolU8(r.Opened), r.CumulativePnL, r.NetPositionAfter, ts(r.OccurredAt), boolU8(r.Revert),
		attr.CounterTrade, attr.OnchainNetting, attr.DirectionalExposure, r.CostBasis,
	})
	return next, nil
}

// attributionOf is a record's attribution; a record written before
// attribution books its whole realized amount as DirectionalExposure.
func attributionOf(r pnl.Record) pnl.Attribution {
	if r.Attribution != nil {
		return *r.Attribution
	}
	return pnl.Attribution{DirectionalExposure: r.RealizedPnL}
}

func pnlSummaryRow(symbol string, seq uint64, s PnLState, js string) []any {
	return []any{
		symbol, seq, s.RealizedPnL, s.NetPosition, s.OnchainVolume, s.OffchainVolume,
		s.Fills, ts(s.LastOccurredAt), js,
		s.CounterTrade, s.OnchainNetting, s.DirectionalExposure, s.CostBasis,
	}
}
