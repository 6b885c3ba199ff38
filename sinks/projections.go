package sinks

// Projections returns a fresh instance of every projection, in the order
// the views depend on nothing else: "trades" (onchain-trade.events ->
// onchain_trade_view), "positions" (position.events -> position_view and
// hedge_view), "orders" (offchain-order.events -> offchain_order_view) and
// "pnl" (pnl.events -> metrics_pnl and pnl_summary). Each value serves one
// Projector.
func Projections() []Projection {
	return []Projection{
		NewTradesProjection(),
		NewPositionsProjection(),
		NewOrdersProjection(),
		NewPnLProjection(),
	}
}

// ViewNames lists every table the projections write, in Projections order.
// These are what a replay rebuilds (CreateShadow, SwapShadow).
func ViewNames() []string {
	var out []string
	for _, p := range Projections() {
		for _, t := range p.Tables() {
			out = append(out, t.Name)
		}
	}
	return out
}

// AnalyticsViews lists the SQL views (no storage) over those tables and
// parked_events.
func AnalyticsViews() []string { return []string{"hedge_latency", "symbol_hourly", GapsView} }

// ProjectionOf returns a fresh instance of the projection that writes
// table, or nil.
func ProjectionOf(table string) Projection {
	for _, p := range Projections() {
		for _, t := range p.Tables() {
			if t.Name == table {
				return p
			}
		}
	}
	return nil
}
