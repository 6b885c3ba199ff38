package aggregate

import "errors"

// Validation errors shared by every aggregate package.
var (
	// ErrInvalid is matched by every *FieldError.
	ErrInvalid = errors.New("invalid field")
	// ErrUnknownCommand and ErrUnknownEvent mark a type an aggregate does not
	// handle (a pointer instead of a value, or another aggregate's).
	ErrUnknownCommand = errors.New("unknown command")
	ErrUnknownEvent   = errors.New("unknown event")
	// ErrMissingTime is returned when the command metadata has no time.
	ErrMissingTime = errors.New("command time (meta.At) is zero")
)

// FieldError names a command or event field that failed validation. It
// matches ErrInvalid and the underlying cause; its message carries the
// field's name, never its value (tokens are validated this way too).
type FieldError struct {
	Field string // JSON name
	Err   error
}

func (e *FieldError) Error() string   { return "invalid " + e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() []error { return []error{ErrInvalid, e.Err} }

// FieldErr wraps err as a *FieldError for field, or returns nil.
func FieldErr(field string, err error) error {
	if err == nil {
		return nil
	}
	return &FieldError{Field: field, Err: err}
}
