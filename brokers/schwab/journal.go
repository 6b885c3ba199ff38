package schwab

import (
	"sync"
	"time"

	"github.com/shopspring/decimal"
)

// Entry is what the journal knows of one client order id: the order as
// sent, when it was first attempted, and the Schwab order id once known.
type Entry struct {
	ClientOrderID string          `json:"client_order_id"`
	Symbol        string          `json:"symbol"`
	Instruction   string          `json:"instruction"` // BUY or SELL
	Quantity      decimal.Decimal `json:"quantity"`
	AttemptedAt   time.Time       `json:"attempted_at"`
	BrokerOrderID string          `json:"broker_order_id,omitempty"`
	AcceptedAt    time.Time       `json:"accepted_at,omitzero"`
	// Rejected is Schwab's refusal of the post: no order exists, and the
	// orders list is never searched for one.
	Rejected string `json:"rejected,omitempty"`
}

// Journal stores Entries. Schwab keeps no client order id, so the journal
// is what makes Place idempotent: it must outlive the process (and be
// shared by every instance trading the account) for a retry after a crash
// to find the first order. Implementations are safe for concurrent use.
type Journal interface {
	Get(clientOrderID string) (Entry, bool, error)
	Put(Entry) error
	// ClaimedBy returns the client order id already mapped to a Schwab
	// order id, if any.
	ClaimedBy(brokerOrderID string) (string, bool, error)
}

// MemoryJournal is a Journal that lasts as long as the process: enough
// for retries within one run, not across a restart.
type MemoryJournal struct {
	mu      sync.Mutex
	byID    map[string]Entry
	claimed map[string]string
}

func NewMemoryJournal() *MemoryJournal {
	return &MemoryJournal{byID: map[string]Entry{}, claimed: map[string]string{}}
}

func (j *MemoryJournal) Get(id string) (Entry, bool, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	e, ok := j.byID[id]
	return e, ok, nil
}

func (j *MemoryJournal) Put(e Entry) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.byID[e.ClientOrderID] = e
	if e.BrokerOrderID != "" {
		j.claimed[e.BrokerOrderID] = e.ClientOrderID
	}
	return nil
}

func (j *MemoryJournal) ClaimedBy(orderID string) (string, bool, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	id, ok := j.claimed[orderID]
	return id, ok, nil
}
