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

// ErrMissingCommandID: token nonces are derived from the command id.
var ErrMissingCommandID = errors.New("command id (meta.CommandID) is empty")

// Validation errors shared by every aggregate (package aggregate).
var (
	ErrInvalid        = aggregate.ErrInvalid
	ErrUnknownCommand = aggregate.ErrUnknownCommand
	ErrUnknownEvent   = aggregate.ErrUnknownEvent
	ErrMissingTime    = aggregate.ErrMissingTime
)

// FieldError names a command or event field that failed validation.
type FieldError = aggregate.FieldError

func fieldErr(field string, err error) error { return aggregate.FieldErr(field, err) }
