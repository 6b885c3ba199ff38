package offchainorder

import (
	"fmt"

	"github.com/google/uuid"
)

// ID is the aggregate id of an order: the execution id the Position
// aggregate derived, in canonical UUID form.
func ID(executionID uuid.UUID) string { return executionID.String() }

// ParseID accepts only the canonical lowercase form ID produces, so one
// order never has two aggregate ids.
func ParseID(s string) (uuid.UUID, error) {
	u, err := uuid.Parse(s)
	if err != nil || u.String() != s {
		return uuid.Nil, fmt.Errorf("invalid order id %q: want a lowercase hyphenated UUID", s)
	}
	if u == uuid.Nil {
		return uuid.Nil, fmt.Errorf("invalid order id %q: nil UUID", s)
	}
	return u, nil
}
