package offchainorder

import (
	"errors"

	"github.com/google/uuid"
)

// ID is the aggregate id of an order: the execution id the Position
// aggregate derived, in canonical UUID form.
func ID(executionID uuid.UUID) string { return executionID.String() }

// ParseID accepts only the canonical lowercase form ID produces, so one
// order never has two aggregate ids. Its errors do not quote s: a bad id
// may be any size and the rejected record keeps it anyway.
func ParseID(s string) (uuid.UUID, error) {
	u, err := uuid.Parse(s)
	if err != nil || u.String() != s {
		return uuid.Nil, errors.New("order id (execution id) must be a lowercase hyphenated UUID")
	}
	if u == uuid.Nil {
		return uuid.Nil, errors.New("order id (execution id) must not be the nil UUID")
	}
	return u, nil
}

// checkID refuses to create an order under anything but an execution id:
// the order manager and the broker (client order id) address it by that id.
func checkID(id string) error {
	_, err := ParseID(id)
	return fieldErr("aggregate_id", err)
}
