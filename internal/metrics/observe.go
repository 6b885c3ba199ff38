package metrics

// ObserveBatch records one committed projector batch of records.
func (m *Metrics) ObserveBatch(projection string, records int) {
	m.batchRecords.WithLabelValues(projection).Observe(float64(records))
}

// ObserveInsert records one INSERT into table that took seconds.
func (m *Metrics) ObserveInsert(table string, seconds float64, err error) {
	o := "ok"
	if err != nil {
		o = "error"
	}
	m.insertSeconds.WithLabelValues(table, o).Observe(seconds)
}

// ObserveChain records where the chain source stands after a range: target
// is the block it ingests up to, next the first block not yet ingested.
// The chain gauges appear with the first report: a process without a
// chain source has none.
func (m *Metrics) ObserveChain(target, next uint64) {
	m.chainOnce.Do(func() { m.reg.MustRegister(m.chainTarget, m.chainNext, m.chainLag) })
	m.chainTarget.Set(float64(target))
	m.chainNext.Set(float64(next))
	lag := 0.0
	if next <= target {
		lag = float64(target - next + 1)
	}
	m.chainLag.Set(lag)
}
