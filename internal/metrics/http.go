package metrics

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// httpMetrics count the requests of an HTTP API (hedgeline serve).
type httpMetrics struct {
	requests *prometheus.CounterVec
	seconds  *prometheus.HistogramVec
}

func newHTTPMetrics(reg *prometheus.Registry) *httpMetrics {
	h := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hedgeline_api_requests_total",
			Help: "Requests to the REST API, by route pattern and status code.",
		}, []string{"route", "code"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hedgeline_api_request_duration_seconds",
			Help:    "Time to answer a REST API request, by route pattern.",
			Buckets: prometheus.ExponentialBuckets(.001, 4, 8),
		}, []string{"route"}),
	}
	reg.MustRegister(h.requests, h.seconds)
	return h
}

// InstrumentAPI counts and times each request next serves, labelled by the
// ServeMux pattern that matched (not the path: ids would make the label set
// unbounded); an unmatched request is "other".
func (m *Metrics) InstrumentAPI(next http.Handler) http.Handler {
	m.httpOnce.Do(func() { m.http = newHTTPMetrics(m.reg) })
	h := m.http
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(rec, r)
		route := r.Pattern
		if route == "" || route == "/" {
			route = "other"
		}
		// "GET /api/pnl" -> "/api/pnl": the method is always GET here.
		if _, p, ok := strings.Cut(route, " "); ok {
			route = p
		}
		h.requests.WithLabelValues(route, strconv.Itoa(rec.code)).Inc()
		h.seconds.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}
