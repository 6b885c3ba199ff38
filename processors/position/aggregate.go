// Package position is the Position aggregate: the signed on-chain exposure of
// one base symbol (tAAPL, AAPL0x and AAPLs1 all count towards AAPL) and the
// broker hedge that brings it back towards zero.
//
// The aggregate itself decides when to hedge: a decision that leaves the
// position over its threshold with nothing pending also emits
// OffChainOrderPlaced, so there is no periodic checker to forget a position
// (upstream needed one, and it missed positions for months). Migrate is the
// exception: the legacy system may still have that exposure's order in
// flight, so the first later command re-evaluates it. A legacy order known
// to be in flight (Migrate.Pending) is the position's pending hedge,
// reserved: its fill does not move net (the legacy net counted it), its
// failure returns its shares. RecordMigratedFill adds legacy history for
// the PnL stage without touching net (docs/migration.md).
//
// RevertOnChainFill withdraws an applied fill whose block left the canonical
// chain; the position keeps a small window of its newest fills for that
// (State.Revertible) and moves its chain-order watermark back, so the
// canonical chain's fills are accepted again.
//
// Pure: no Kafka, ClickHouse, clock or randomness. Time comes from
// aggregate.Meta.At and execution ids are UUIDv5 of symbol and sequence, so
// replaying the same commands yields byte-identical events.
package position

import "github.com/hedgeline/hedgeline/processors/aggregate"

// AggregateType names the aggregate in envelopes; the aggregate id is the
// base symbol ("AAPL").
const AggregateType = "Position"

// Definition is what the generic runner needs.
var Definition = aggregate.Definition[State]{
	Type:          AggregateType,
	Decide:        Decide,
	Evolve:        Evolve,
	DecodeCommand: Commands.Decode,
	DecodeEvent:   Events.Decode,
}
