package sinks

import (
	"github.com/shopspring/decimal"

	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/hedgeline/hedgeline/processors/offchainorder"
	"github.com/hedgeline/hedgeline/topics"
)

// OrdersTable is the view of offchain-order.events: one row per broker
// order (execution id).
var OrdersTable = Table{Name: "offchain_order_view", Columns: []string{
	"aggregate_id", "sequence", "symbol", "status", "broker", "broker_order_id",
	"shares", "shares_filled", "direction", "price", "avg_price", "reference_price",
	"placed_at", "submitted_at", "partially_filled_at", "filled_at", "failed_at", "error",
	"migrated", "lifecycle", "failure", "state",
}}

// OrderState is what the orders projection folds per order.
type OrderState struct {
	Lifecycle aggregate.Lifecycle[offchainorder.State] `json:"lifecycle"`
	Migrated  bool                                     `json:"migrated,omitempty"`
}

// NewOrdersProjection projects offchain-order.events into
// offchain_order_view.
func NewOrdersProjection() *StateProjection[OrderState, AggregateEvent] {
	p, err := NewStateProjection(StateConfig[OrderState, AggregateEvent]{
		Name: "orders", Topic: topics.OffchainOrderEvents, AggregateType: topics.OffchainOrder,
		StateTable: OrdersTable, KeyColumn: "aggregate_id", VersionColumn: "sequence",
		Contiguous: true,
		Decode:     decodeEvents(topics.OffchainOrder, offchainorder.Events.Decode),
		Apply:      applyOrder,
		Row:        orderRow,
	})
	if err != nil {
		panic(err) // static configuration
	}
	return p
}

func applyOrder(s OrderState, _ bool, it Item[AggregateEvent], _ Emit) (OrderState, error) {
	l, err := evolve(s.Lifecycle, it, offchainorder.Evolve)
	s.Lifecycle = l
	if _, ok := it.Event.Event.(offchainorder.Migrated); ok && err == nil {
		s.Migrated = true
	}
	return s, err
}

func orderRow(id string, seq uint64, s OrderState, js string) []any {
	st := s.Lifecycle.State
	var price, avg *decimal.Decimal
	if st.Status == offchainorder.StatusFilled {
		p := st.Price
		price = &p
	}
	if !st.AvgPrice.IsZero() {
		a := st.AvgPrice
		avg = &a
	}
	return []any{
		id, seq, string(st.Symbol), string(st.Status), string(st.Broker), st.BrokerOrderID,
		st.Shares, st.SharesFilled, string(st.Direction), price, avg, st.ReferencePrice,
		ts(st.PlacedAt), timePtr(st.SubmittedAt), timePtr(st.PartiallyFilledAt), timePtr(st.FilledAt), timePtr(st.FailedAt), st.Error,
		boolU8(s.Migrated), lifecycleStatus(s.Lifecycle.Status), s.Lifecycle.Failure, js,
	}
}
