package runner

import (
	"fmt"

	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/hedgeline/hedgeline/topics"
)

// What the stages between aggregates (the trade manager, the order manager,
// the PnL stage) emit, written once: the commands they derive from an event
// and the rejections of inputs they cannot use. Each such stage is a
// deterministic Handler, so a redelivered input produces the same commands
// with the same command ids, which the receiving aggregate drops as
// duplicates.

// CommandOut encodes a command caused by the event cause, read from in,
// addressed to the aggregate aggType/id, with a deterministic command id and
// in as its source (a redelivered one is then known as a duplicate).
func CommandOut(aggType, id, commandID string, cause Event, in Input, c aggregate.Command) (Output, error) {
	r, err := topics.CommandRecord(topics.CommandEnvelope{
		AggregateType: aggType,
		AggregateID:   id,
		CommandID:     commandID,
		IssuedAt:      cause.OccurredAt,
		CorrelationID: cause.CorrelationID,
		CausationID:   cause.ID(),
		Source:        &topics.CommandSource{Topic: in.Topic, Partition: in.Partition, Offset: in.Offset},
	}, c, id)
	if err != nil {
		return Output{}, err
	}
	return Output{Topic: r.Topic, Key: id, Value: r.Value}, nil
}

// StageRejection records an input the stage could not use on the
// rejections topic of the aggregate it would have commanded, with the
// reason prefixed by the stage's name.
func StageRejection(aggType, stage string, in Input, err error) (Output, error) {
	return Rejection(aggType, "", in, fmt.Errorf("%s: %w", stage, err))
}

// Rejecter is a stage's Stage.Reject: inputs the runner refuses go to the
// same rejections topic as the stage's own (StageRejection).
func Rejecter(aggType, stage string) func(Input, error) (Output, error) {
	return func(in Input, reason error) (Output, error) {
		return StageRejection(aggType, stage, in, reason)
	}
}
