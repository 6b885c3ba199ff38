// Package managers holds the stages that connect aggregates: the trade
// manager (fills -> positions), the order manager (hedges -> broker orders ->
// positions) and the PnL stage. Each is a deterministic runner.Handler, so a
// redelivered input produces the same commands with the same command ids,
// which the receiving aggregate drops as duplicates.
package managers

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/hedgeline/hedgeline/processors/runner"
	"github.com/hedgeline/hedgeline/topics"
)

// commandOut encodes a command caused by the event cause, read from in,
// addressed to the aggregate aggType/id, with a deterministic command id and
// in as its source (a redelivered one is then known as a duplicate).
func commandOut(aggType, id, commandID string, cause topics.EventEnvelope, in runner.Input, c aggregate.Command) (runner.Output, error) {
	t, err := topics.TopicsFor(aggType)
	if err != nil {
		return runner.Output{}, err
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return runner.Output{}, fmt.Errorf("encode %s: %w", c.CommandType(), err)
	}
	b, err := topics.EncodeCommand(topics.CommandEnvelope{
		AggregateType:  aggType,
		AggregateID:    id,
		CommandID:      commandID,
		CommandType:    c.CommandType(),
		CommandVersion: topics.CommandVersion,
		IssuedAt:       cause.OccurredAt,
		CorrelationID:  cause.CorrelationID,
		CausationID:    EventID(cause),
		Payload:        payload,
		Source:         &topics.CommandSource{Topic: in.Topic, Partition: in.Partition, Offset: in.Offset},
	})
	if err != nil {
		return runner.Output{}, fmt.Errorf("encode %s envelope: %w", c.CommandType(), err)
	}
	return runner.Output{Topic: t.Commands, Key: id, Value: b}, nil
}

// EventID names one event: "<aggregate_type>/<aggregate_id>#<sequence>".
func EventID(e topics.EventEnvelope) string {
	return e.AggregateType + "/" + e.AggregateID + "#" + strconv.FormatUint(e.Sequence, 10)
}

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

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
