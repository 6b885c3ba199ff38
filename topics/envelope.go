package topics

import (
	"encoding/json"
	"fmt"
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
	// Source, set by the stages that derive commands from events, names
	// the input record the command was made from. A stage re-sends its
	// commands from its committed offset after a crash, so a command whose
	// source offset the aggregate has already seen is a redelivery: when
	// the aggregate's rules refuse it, it is counted as a duplicate, not
	// rejected (rejections mean a command broke a rule).
	Source *CommandSource `json:"source,omitempty"`
}

// CommandSource is the input record a command was derived from.
type CommandSource struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

// Key names the source partition: "topic/partition".
func (s CommandSource) Key() string { return fmt.Sprintf("%s/%d", s.Topic, s.Partition) }

// Size bounds of a rejection. A rejection is the last place a bad record
// can go, so it must always fit the topic: Kafka's default max.message.bytes
// (1 MiB, kfake's too) also has to hold the record key and batch overhead.
const (
	// MaxRejectionBytes bounds every record EncodeRejection returns. The
	// fields below cannot exceed it even when every byte of them needs a
	// six-byte JSON escape (about 131 KiB in all).
	MaxRejectionBytes = 256 << 10
	// MaxOriginalBytes is how much of a rejected record a rejection keeps. A
	// longer record keeps this prefix, its size and its SHA-256.
	MaxOriginalBytes = 64 << 10
	// MaxReasonBytes bounds Reason: a reason may quote a huge field.
	MaxReasonBytes = 4 << 10
	// maxNameBytes bounds aggregate_type, aggregate_id and topic, which may
	// come from an undecodable record.
	maxNameBytes = 1 << 10
)

// Rejection is written to <aggregate>.rejections for a command that could
// not be decoded or was refused by the aggregate, and to
// projection.rejections for an event a sink could not project. It keeps the
// original record byte for byte: in Command when those bytes are compact
// JSON (the common case, readable in tools), otherwise base64 in Raw. A
// record longer than MaxOriginalBytes is kept only as a prefix in Raw, with
// Truncated set and its whole size and SHA-256.
type Rejection struct {
	AggregateType string          `json:"aggregate_type"`
	AggregateID   string          `json:"aggregate_id"` // empty when the command was undecodable
	Reason        string          `json:"reason"`
	Topic         string          `json:"topic"`
	Partition     int32           `json:"partition"`
	Offset        int64           `json:"offset"`
	Command       json.RawMessage `json:"command,omitempty"`
	Raw           []byte          `json:"raw,omitempty"`
	// Truncated says Raw holds only the first MaxOriginalBytes of the
	// record; OriginalSize (bytes) and OriginalSHA256 (lowercase hex)
	// describe the whole record. All three are empty otherwise.
	Truncated      bool      `json:"original_truncated,omitempty"`
	OriginalSize   int64     `json:"original_size,omitempty"`
	OriginalSHA256 string    `json:"original_sha256,omitempty"`
	RejectedAt     time.Time `json:"rejected_at"`
}

// Original returns the rejected record's bytes exactly as they were read,
// or, when Truncated is set, only their first MaxOriginalBytes.
func (r Rejection) Original() []byte {
	if r.Command != nil {
		return []byte(r.Command)
	}
	return r.Raw
}
