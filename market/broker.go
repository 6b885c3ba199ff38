package market

import (
	"encoding/json"
	"fmt"
)

// Broker names the venue that executes hedges.
type Broker string

const (
	Schwab Broker = "schwab"
	Alpaca Broker = "alpaca"
	DryRun Broker = "dry_run"
)

// ParseBroker accepts the wire names and the CLI spelling "dry-run".
func ParseBroker(s string) (Broker, error) {
	switch s {
	case "schwab", "Schwab":
		return Schwab, nil
	case "alpaca", "Alpaca":
		return Alpaca, nil
	case "dry_run", "dry-run", "DryRun":
		return DryRun, nil
	}
	return "", fmt.Errorf("invalid broker %q: want schwab, alpaca or dry-run", s)
}

func (b *Broker) UnmarshalJSON(data []byte) error {
	// Wire names skip a nested json.Unmarshal (hot: every position state).
	switch string(data) {
	case `"schwab"`:
		*b = Schwab
		return nil
	case `"alpaca"`:
		*b = Alpaca
		return nil
	case `"dry_run"`:
		*b = DryRun
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	v, err := ParseBroker(s)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// Execution is how hedges for a position are executed: at which broker and
// whether it accepts fractional quantities (Alpaca does, Schwab does not).
type Execution struct {
	Broker     Broker `json:"broker"`
	Fractional bool   `json:"fractional"`
}

// DefaultExecution is the upstream default for a broker: fractional only at
// Alpaca.
func DefaultExecution(b Broker) Execution {
	return Execution{Broker: b, Fractional: b == Alpaca}
}
