// Package offchainorder is the OffchainOrder aggregate: one hedge order at a
// broker, from placement to a terminal Filled or Failed.
//
//	(none) --Placed--> Pending --Submitted--> Submitted --PartiallyFilled--> PartiallyFilled (repeatable)
//	Submitted | PartiallyFilled --Filled--> Filled (terminal)
//	Pending | Submitted | PartiallyFilled --Failed--> Failed (terminal)
//	(none) --Migrated{status}--> Pending | Submitted | Filled | Failed
//
// Every other transition is rejected by Decide with a sentinel error, and
// fails the aggregate if it reaches Evolve. Decide checks the lifecycle and
// status first, then the fields, then the rules that compare the command
// with the state; every event it returns is one Evolve accepts.
package offchainorder

import "github.com/hedgeline/hedgeline/processors/aggregate"

// AggregateType is the aggregate type in envelopes.
const AggregateType = "OffchainOrder"

// Definition is the OffchainOrder aggregate for the generic runner.
var Definition = aggregate.Definition[State]{
	Type:          AggregateType,
	Decide:        Decide,
	Evolve:        Evolve,
	DecodeCommand: Commands.Decode,
	DecodeEvent:   Events.Decode,
}
