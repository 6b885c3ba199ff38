// Package onchaintrade is the OnChainTrade aggregate: one orderbook fill of
// the bot's order, recorded once as an audit fact and optionally enriched
// with gas and Pyth data later.
//
// It is the mainline (DW) model with two fixes: a fill carries both the
// tokenized symbol as seen on chain ("tAAPL") and its base ticker ("AAPL"),
// so Filled and Migrated events agree (upstream's Filled had the base and
// Migrated the tokenized form), and every field is validated.
//
// A fill whose block left the canonical chain is withdrawn by Revert
// (event Reverted, which repeats the fill). A reverted trade accepts a new
// Witness: the same transaction mined again in the canonical chain, at its
// new block, recorded as Filled again (docs/design.md, "Reorgs").
//
// Decide checks the lifecycle first (a duplicate Witness is ErrAlreadyFilled
// whatever it carries), then the fields, then the rules that depend on the
// state. Every event Decide returns is one Evolve accepts.
package onchaintrade

import "github.com/hedgeline/hedgeline/processors/aggregate"

// AggregateType is the aggregate type in envelopes.
const AggregateType = "OnChainTrade"

// Definition is the OnChainTrade aggregate for the generic runner.
var Definition = aggregate.Definition[State]{
	Type:          AggregateType,
	Decide:        Decide,
	Evolve:        Evolve,
	DecodeCommand: Commands.Decode,
	DecodeEvent:   Events.Decode,
}
