package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
)

// BrokerTransport wraps next (nil: http.DefaultTransport) so every request
// to broker's API is counted by outcome: ok (below 400), rate_limited
// (429), client_error (other 4xx), server_error (5xx) or network_error (no
// response).
// A nil m returns next unchanged.
func (m *Metrics) BrokerTransport(broker string, next http.RoundTripper) http.RoundTripper {
	if m == nil {
		return next
	}
	if next == nil {
		next = http.DefaultTransport
	}
	return brokerTransport{next: next, count: m.brokerReqs.MustCurryWith(prometheus.Labels{"broker": broker})}
}

type brokerTransport struct {
	next  http.RoundTripper
	count *prometheus.CounterVec
}

func (t brokerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	t.count.WithLabelValues(outcome(resp, err)).Inc()
	return resp, err
}

func outcome(resp *http.Response, err error) string {
	switch {
	case err != nil || resp == nil:
		return "network_error"
	case resp.StatusCode == http.StatusTooManyRequests:
		return "rate_limited"
	case resp.StatusCode >= 500:
		return "server_error"
	case resp.StatusCode >= 400:
		return "client_error"
	}
	return "ok"
}

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
