// Package brokerauth is the BrokerAuth aggregate: the singleton store of
// the Schwab OAuth tokens, encrypted with AES-256-GCM inside every event.
//
// The encryption key comes from configuration and is passed to
// NewDefinition; it never appears in an event, a log line or an error, and
// neither does a token's plaintext. Commands carry tokens already
// encrypted by their producer (Encrypt; see seal in crypto.go for the
// deterministic nonce); Decide checks they open under the key and stores
// them as given.
//
// NotAuthenticated is the lifecycle's Uninitialized status and
// Authenticated its Live status. StoreTokens is allowed in any status: on
// an uninitialized aggregate its event is the genesis, on a live one a
// transition (re-authentication overwrites both tokens).
package brokerauth

import "github.com/hedgeline/hedgeline/processors/aggregate"

// AggregateType is the aggregate type in envelopes.
const AggregateType = "BrokerAuth"

// ID is the id of the only BrokerAuth aggregate.
const ID = "schwab"

// NewDefinition is the BrokerAuth aggregate for the generic runner; Decide
// closes over key. A zero key makes every command that needs it fail with
// ErrNoKey, so check Key.IsZero when loading configuration.
func NewDefinition(key Key) aggregate.Definition[State] {
	return aggregate.Definition[State]{
		Type: AggregateType,
		Decide: func(l aggregate.Lifecycle[State], c aggregate.Command, m aggregate.Meta) ([]aggregate.Event, error) {
			return Decide(key, l, c, m)
		},
		Evolve:        Evolve,
		DecodeCommand: Commands.Decode,
		DecodeEvent:   Events.Decode,
	}
}
