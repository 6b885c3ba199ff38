// Package managers holds the stages that connect aggregates: the trade
// manager (fills -> positions), the order manager (hedges -> broker orders ->
// positions) and the PnL stage. Each is a deterministic runner.Handler, so a
// redelivered input produces the same commands with the same command ids,
// which the receiving aggregate drops as duplicates.
package managers

import (
	"fmt"

	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/hedgeline/hedgeline/processors/runner"
	"github.com/hedgeline/hedgeline/topics"
)

// commandOut encodes a command caused by the event cause, read from in,
// addressed to the aggregate aggType/id, with a deterministic command id and
// in as its source (a redelivered one is then known as a duplicate).
func commandOut(aggType, id, commandID string, cause topics.EventEnvelope, in runner.Input, c aggregate.Command) (runner.Output, error) {
	r, err := topics.CommandRecord(topics.CommandEnvelope{
		AggregateType: aggType,
		AggregateID:   id,
		CommandID:     commandID,
		IssuedAt:      cause.OccurredAt,
		CorrelationID: cause.CorrelationID,
		CausationID:   EventID(cause),
		Source:        &topics.CommandSource{Topic: in.Topic, Partition: in.Partition, Offset: in.Offset},
	}, c, id)
	if err != nil {
		return runner.Output{}, err
	}
	return runner.Output{Topic: r.Topic, Key: id, Value: r.Value}, nil
}

// EventID names one event: "<aggregate_type>/<aggregate_id>#<sequence>".
func EventID(e topics.EventEnvelope) string { return runner.Event{EventEnvelope: e}.ID() }

// rejectOut records an input a stage could not use on the rejections topic
// of the aggregate it would have commanded, with the reason.
func rejectOut(aggType, stage string, in runner.Input, err error) (runner.Output, error) {
	return runner.Rejection(aggType, "", in, fmt.Errorf("%s: %w", stage, err))
}

// rejecter is a stage's runner.Stage.Reject: inputs the runner refuses go
// to the same rejections topic as the stage's own.
func rejecter(aggType, stage string) func(runner.Input, error) (runner.Output, error) {
	return func(in runner.Input, reason error) (runner.Output, error) {
		return rejectOut(aggType, stage, in, reason)
	}
}
