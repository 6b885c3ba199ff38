package runner

import (
	"encoding/json"
	"errors"

	"github.com/hedgeline/hedgeline/processors/aggregate"
)

// Observer is told what each stage did with each input, at the runner
// boundary, so counting (metrics) stays out of the pure aggregates. It is
// called from the stage's goroutines and must not block. Redelivered
// inputs (outputs re-emitted from the record) and dropped duplicates are
// not reported: each input is reported once in the common case.
type Observer interface {
	Handled(group string, in Input, out []Output)
}

// Rejection kinds: the bounded reason label of Output.RejectKind.
const (
	KindTombstone      = "tombstone"
	KindUndecodable    = "undecodable"
	KindWrongAggregate = "wrong_aggregate"
	KindKeyMismatch    = "key_mismatch"
	KindWrongPartition = "wrong_partition"
	KindInvalid        = "invalid"
	KindUnknown        = "unknown_type"
	KindRefused        = "refused"
	KindFailed         = "aggregate_failed"
)

// kindError tags a rejection reason with its kind.
type kindError struct {
	kind string
	err  error
}

func (e *kindError) Error() string { return e.err.Error() }
func (e *kindError) Unwrap() error { return e.err }

// withKind tags err with a rejection kind (RejectKind reads it back).
func withKind(kind string, err error) error { return &kindError{kind: kind, err: err} }

// RejectKind classifies a rejection reason into a small fixed set, never
// the reason's text (which carries ids).
func RejectKind(err error) string {
	var k *kindError
	if errors.As(err, &k) {
		return k.kind
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, aggregate.ErrInvalid), errors.Is(err, aggregate.ErrMissingTime):
		return KindInvalid
	case errors.Is(err, aggregate.ErrUnknownCommand), errors.Is(err, aggregate.ErrUnknownEvent):
		return KindUnknown
	case errors.As(err, &syn), errors.As(err, &typ):
		return KindUndecodable
	}
	return KindRefused
}
