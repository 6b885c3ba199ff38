package topics

import (
	"encoding/json"
	"time"
)

// EventEnvelope wraps every event on every *.events topic. (AggregateID,
// Sequence) identifies an event: consumers skip a pair they already applied.
type EventEnvelope struct {
	AggregateType string          `json:"aggregate_type"`
	AggregateID   string          `json:"aggregate_id"`
	Sequence      uint64          `json:"sequence"`
	EventType     string          `json:"event_type"`
	EventVersion  int             `json:"event_version"`
	OccurredAt    time.Time       `json:"occurred_at"`
	CommandID     string          `json:"command_id"`
	CorrelationID string          `json:"correlation_id"`
	CausationID   string          `json:"causation_id"`
	Payload       json.RawMessage `json:"payload"`
}

// CommandEnvelope wraps every command on every *.commands topic. CommandID
// is what makes a redelivered command recognisable, so it is required.
type CommandEnvelope struct {
	AggregateType  string          `json:"aggregate_type"`
	AggregateID    string          `json:"aggregate_id"`
	CommandID      string          `json:"command_id"`
	CommandType    string          `json:"command_type"`
	CommandVersion int             `json:"command_version"`
	IssuedAt       time.Time       `json:"issued_at"`
	CorrelationID  string          `json:"correlation_id"`
	CausationID    string          `json:"causation_id"`
	Payload        json.RawMessage `json:"payload"`
}

// Rejection is written to <aggregate>.rejections for a command that could
// not be decoded or was refused by the aggregate. It keeps the original
// record byte for byte: in Command when those bytes are compact JSON (the
// common case, readable in tools), otherwise base64 in Raw.
type Rejection struct {
	AggregateType string          `json:"aggregate_type"`
	AggregateID   string          `json:"aggregate_id"` // empty when the command was undecodable
	Reason        string          `json:"reason"`
	Topic         string          `json:"topic"`
	Partition     int32           `json:"partition"`
	Offset        int64           `json:"offset"`
	Command       json.RawMessage `json:"command,omitempty"`
	Raw           []byte          `json:"raw,omitempty"`
	RejectedAt    time.Time       `json:"rejected_at"`
}

// Original returns the rejected record's bytes exactly as they were read.
func (r Rejection) Original() []byte {
	if r.Command != nil {
		return []byte(r.Command)
	}
	return r.Raw
}
