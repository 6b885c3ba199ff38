package onchaintrade

import (
	"errors"
	"fmt"

	"github.com/hedgeline/hedgeline/processors/aggregate"
)

// Domain errors. The lifecycle ones also match the aggregate sentinels, so
// errors.Is(ErrAlreadyFilled, aggregate.ErrAlreadyInitialized) holds.
var (
	ErrAlreadyFilled   = fmt.Errorf("trade already filled (%w)", aggregate.ErrAlreadyInitialized)
	ErrNotFilled       = fmt.Errorf("trade not filled (%w)", aggregate.ErrUninitialized)
	ErrAlreadyEnriched = errors.New("trade already enriched")

	// ErrInvalid is matched by every *FieldError.
	ErrInvalid = errors.New("invalid field")
	// ErrUnknownCommand and ErrUnknownEvent mark a type this package does
	// not handle (a pointer instead of a value, or another aggregate's).
	ErrUnknownCommand = errors.New("unknown command")
	ErrUnknownEvent   = errors.New("unknown event")
	// ErrMissingTime is returned when the command metadata has no time.
	ErrMissingTime = errors.New("command time (meta.At) is zero")
)

// FieldError names a command or event field that failed validation. It
// matches ErrInvalid and the underlying cause.
type FieldError struct {
	Field string // JSON name
	Err   error
}

func (e *FieldError) Error() string   { return "invalid " + e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() []error { return []error{ErrInvalid, e.Err} }

func fieldErr(field string, err error) error {
	if err == nil {
		return nil
	}
	return &FieldError{Field: field, Err: err}
}
