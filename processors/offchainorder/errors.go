package offchainorder

import (
	"errors"
	"fmt"

	"github.com/hedgeline/hedgeline/processors/aggregate"
)

// State-machine errors. ErrAlreadyPlaced also matches
// aggregate.ErrAlreadyInitialized.
var (
	ErrAlreadyPlaced    = fmt.Errorf("order already placed (%w)", aggregate.ErrAlreadyInitialized)
	ErrAlreadySubmitted = errors.New("order already submitted")
	ErrNotSubmitted     = errors.New("order not submitted")
	ErrAlreadyCompleted = errors.New("order already completed")
)

// Fill and migration rules.
var (
	// ErrFillNotPartial: a partial fill must stay below the order's shares.
	ErrFillNotPartial = errors.New("partial fill must be below the order's shares")
	// ErrFillDecreased: cumulative shares filled never go down.
	ErrFillDecreased = errors.New("shares filled must not decrease")
	// ErrFillMismatch: a complete fill fills exactly the order's shares.
	ErrFillMismatch = errors.New("complete fill must fill exactly the order's shares")
	// ErrMissingPrice: a Filled migration without a price (upstream
	// recorded 0).
	ErrMissingPrice = errors.New("filled order needs a price")
	// ErrMissingBrokerOrderID: a Submitted or Filled migration without the
	// broker's order id (upstream recorded "unknown").
	ErrMissingBrokerOrderID = errors.New("submitted order needs a broker order id")
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
