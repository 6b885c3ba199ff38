package brokerauth

import (
	"errors"
	"fmt"

	"github.com/hedgeline/hedgeline/processors/aggregate"
)

// Lifecycle errors; they also match the aggregate sentinels.
var (
	ErrNotAuthenticated     = fmt.Errorf("broker not authenticated (%w)", aggregate.ErrUninitialized)
	ErrAlreadyAuthenticated = fmt.Errorf("broker already authenticated (%w)", aggregate.ErrAlreadyInitialized)
)

var (
	// ErrInvalid is matched by every *FieldError.
	ErrInvalid          = errors.New("invalid field")
	ErrUnknownCommand   = errors.New("unknown command")
	ErrUnknownEvent     = errors.New("unknown event")
	ErrMissingTime      = errors.New("command time (meta.At) is zero")
	ErrMissingCommandID = errors.New("command id (meta.CommandID) is empty")
)

// FieldError names a command or event field that failed validation. Its
// message never contains the field's value.
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
