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
