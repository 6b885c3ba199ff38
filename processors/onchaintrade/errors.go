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
	// ErrAlreadyReverted refuses a second Revert of the same fill.
	ErrAlreadyReverted = errors.New("trade already reverted")
	// ErrReverted refuses to enrich a reverted fill: its receipt belongs to
	// a block that is no longer canonical.
	ErrReverted = errors.New("trade is reverted")
)

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
