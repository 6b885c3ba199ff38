// Package metrics holds hedgeline's Prometheus collectors in a registry of
// its own (never the global one), so one process, or one test, can run
// several pipelines each with its metrics. The stack feeds it at the
// runner boundary (runner.Observer): the aggregates stay pure. docs/metrics.md
// lists every metric.
package metrics

import (
	"encoding/json"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hedgeline/hedgeline/processors/offchainorder"
	"github.com/hedgeline/hedgeline/processors/onchaintrade"
	"github.com/hedgeline/hedgeline/processors/runner"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is one pipeline's collectors and the registry that serves them.
type Metrics struct {
	reg *prometheus.Registry

	fills         prometheus.Counter
	eventsOut     *prometheus.CounterVec
	rejections    *prometheus.CounterVec
	hedges        *prometheus.CounterVec
	hedgeLatency  prometheus.Histogram
	batchRecords  *prometheus.HistogramVec
	insertSeconds *prometheus.HistogramVec
	brokerReqs    *prometheus.CounterVec
	chainTarget   prometheus.Gauge
	chainNext     prometheus.Gauge
	chainLag      prometheus.Gauge
	chainOnce     sync.Once // the chain gauges are registered once a chain source reports

	open  *openHedges
	ready atomic.Bool
	now   func() time.Time

	httpOnce sync.Once
	http     *httpMetrics
}

// New makes the collectors and registers them, with Go runtime and process
// collectors, on a fresh registry.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), open: newOpenHedges(), now: time.Now}
	m.fills = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hedgeline_fills_total",
		Help: "On-chain fills the onchain-trade aggregate recorded (Filled events; a refused or repeated fill is not one).",
	})
	m.eventsOut = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hedgeline_events_out_total",
		Help: "Events the stages emitted, by topic.",
	}, []string{"topic"})
	m.rejections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hedgeline_rejections_total",
		Help: "Inputs refused onto a rejections topic, by aggregate and reason kind.",
	}, []string{"aggregate", "reason"})
	m.hedges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hedgeline_hedges_total",
		Help: "Hedge orders by outcome: placed, filled or failed.",
	}, []string{"outcome"})
	for _, o := range []string{"placed", "filled", "failed"} {
		m.hedges.WithLabelValues(o)
	}
	m.hedgeLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "hedgeline_hedge_latency_seconds",
		Help:    "Time from a hedge's placement to its fill (placed_at to filled_at of its order).",
		Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900},
	})
	m.batchRecords = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "hedgeline_projector_batch_records",
		Help:    "Records in one committed projector batch, by projection.",
		Buckets: prometheus.ExponentialBuckets(1, 4, 8),
	}, []string{"projection"})
	m.insertSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "hedgeline_projector_insert_seconds",
		Help:    "Duration of one ClickHouse INSERT of a projector, by table and outcome (ok, error).",
		Buckets: prometheus.ExponentialBuckets(.001, 4, 8),
	}, []string{"table", "outcome"})
	m.brokerReqs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hedgeline_broker_requests_total",
		Help: "HTTP requests to a broker's API, by broker and outcome (ok, rate_limited, client_error, server_error, network_error).",
	}, []string{"broker", "outcome"})
	m.chainTarget = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "hedgeline_chain_target_block",
		Help: "The newest block the chain source ingests up to (its cutoff), at its last ingested range.",
	})
	m.chainNext = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "hedgeline_chain_next_block",
		Help: "The first block the chain source has not ingested yet (its checkpoint plus one).",
	})
	m.chainLag = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "hedgeline_chain_lag_blocks",
		Help: "Blocks up to the target the chain source has not ingested yet.",
	})
	openAge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hedgeline_open_hedge_age_seconds",
		Help: "Age of the oldest hedge placed and not yet filled or failed, as this process saw it placed (0: none open).",
	}, func() float64 { return m.open.oldestAge(m.now()) })
	openCount := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hedgeline_open_hedges",
		Help: "Hedges placed and not yet filled or failed, as this process saw them.",
	}, func() float64 { return float64(m.open.len()) })
	up := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hedgeline_ready",
		Help: "1 while every role of the pipeline is running, 0 before it is ready and after it stops.",
	}, func() float64 {
		if m.ready.Load() {
			return 1
		}
		return 0
	})
	m.reg.MustRegister(m.fills, m.eventsOut, m.rejections, m.hedges, m.hedgeLatency, m.batchRecords,
		m.insertSeconds, m.brokerReqs, openAge, openCount, up,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is where the collectors live (to add one, or to gather).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// SetReady says whether the pipeline is running (the /healthz answer).
func (m *Metrics) SetReady(ok bool) { m.ready.Store(ok) }

// Ready reports what SetReady last said.
func (m *Metrics) Ready() bool { return m.ready.Load() }

// Handler serves /metrics (the registry, text or protobuf by Accept) and
// /healthz (200 "ok" while ready, 503 otherwise).
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !m.Ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("not ready\n"))
			return
		}
		w.Write([]byte("ok\n"))
	})
	return mux
}

// Handled implements runner.Observer.
func (m *Metrics) Handled(_ string, _ runner.Input, out []runner.Output) {
	for _, o := range out {
		if o.RejectKind != "" {
			m.rejections.WithLabelValues(aggregateOfRejections(o.Topic), o.RejectKind).Inc()
			continue
		}
		if !isEventTopic(o.Topic) {
			continue
		}
		m.eventsOut.WithLabelValues(o.Topic).Inc()
		switch o.Topic {
		case topics.OffchainOrderEvents:
			m.orderEvent(o)
		case topics.OnChainTradeEvents:
			if eventType(o) == fillType {
				m.fills.Inc()
			}
		}
	}
}

// orderEvent counts a hedge order's placement, fill or failure.
func (m *Metrics) orderEvent(o runner.Output) {
	typ, id, at, ok := decodeOrderEvent(o)
	if !ok {
		return
	}
	switch typ {
	case placedType:
		m.hedges.WithLabelValues("placed").Inc()
		m.open.add(id, at, m.now())
	case filledType:
		m.hedges.WithLabelValues("filled").Inc()
		if placedAt, ok := m.open.remove(id); ok && !placedAt.IsZero() && !at.IsZero() && !at.Before(placedAt) {
			m.hedgeLatency.Observe(at.Sub(placedAt).Seconds())
		}
	case failedType:
		m.hedges.WithLabelValues("failed").Inc()
		m.open.remove(id)
	}
}

// eventType is o's event type, from the event the stage built or its
// bytes ("" if they do not decode).
func eventType(o runner.Output) string {
	if o.Event != nil {
		return o.Event.EventType
	}
	env, err := topics.DecodeEnvelope(o.Value)
	if err != nil {
		return ""
	}
	return env.EventType
}

var (
	fillType   = onchaintrade.Filled{}.EventType()
	placedType = offchainorder.Placed{}.EventType()
	filledType = offchainorder.Filled{}.EventType()
	failedType = offchainorder.Failed{}.EventType()
)

// decodeOrderEvent is o's event type, aggregate id and the time it names
// (placed_at, filled_at): from the event the stage built, or decoded from
// its bytes. Only those fields are read, so counting never fails on the
// rest of a payload.
func decodeOrderEvent(o runner.Output) (typ, id string, at time.Time, ok bool) {
	if o.Event != nil {
		switch e := o.Event.Typed.(type) {
		case offchainorder.Placed:
			at = e.PlacedAt
		case offchainorder.Filled:
			at = e.FilledAt
		}
		return o.Event.EventType, o.Event.AggregateID, at, true
	}
	env, err := topics.DecodeEnvelope(o.Value)
	if err != nil {
		return "", "", at, false
	}
	var times struct {
		PlacedAt time.Time `json:"placed_at"`
		FilledAt time.Time `json:"filled_at"`
	}
	if env.EventType == placedType || env.EventType == filledType {
		if err := json.Unmarshal(env.Payload, &times); err != nil {
			return "", "", at, false
		}
	}
	if env.EventType == placedType {
		at = times.PlacedAt
	} else {
		at = times.FilledAt
	}
	return env.EventType, env.AggregateID, at, true
}

// aggregateOfRejections names the aggregate whose rejections topic t is.
func aggregateOfRejections(t string) string {
	for _, a := range topics.AggregateTypes() {
		if at, err := topics.TopicsFor(a); err == nil && at.Rejections == t {
			return a
		}
	}
	return "other"
}

var eventTopics = func() map[string]bool {
	out := map[string]bool{}
	for _, s := range topics.Catalog(1, 1) {
		if s.Kind == topics.Events {
			out[s.Name] = true
		}
	}
	return out
}()

func isEventTopic(t string) bool { return eventTopics[t] }

// openHedges are the hedges placed and not yet ended, by execution id.
type openHedges struct {
	mu sync.Mutex
	m  map[string]openHedge
}

type openHedge struct{ placedAt, seenAt time.Time }

func newOpenHedges() *openHedges { return &openHedges{m: map[string]openHedge{}} }

func (o *openHedges) add(id string, placedAt, seenAt time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.m[id] = openHedge{placedAt: placedAt, seenAt: seenAt}
}

// remove ends id's hedge and returns when it was placed.
func (o *openHedges) remove(id string) (time.Time, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	h, ok := o.m[id]
	delete(o.m, id)
	return h.placedAt, ok
}

func (o *openHedges) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.m)
}

// oldestAge is how long ago (wall time) the oldest open hedge was seen
// placed; the event's placed_at may be a replayed time.
func (o *openHedges) oldestAge(now time.Time) float64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	var oldest time.Time
	for _, h := range o.m {
		if oldest.IsZero() || h.seenAt.Before(oldest) {
			oldest = h.seenAt
		}
	}
	if oldest.IsZero() {
		return 0
	}
	return now.Sub(oldest).Seconds()
}
