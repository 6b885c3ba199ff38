package metrics

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/hedgeline/hedgeline/processors/offchainorder"
	"github.com/hedgeline/hedgeline/processors/onchaintrade"
	"github.com/hedgeline/hedgeline/processors/runner"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// orderOut is an order event as the order stage emits it; typed says
// whether the stage hands over the typed event or only the bytes (a
// redelivery).
func orderOut(t *testing.T, id string, seq uint64, e aggregate.Event, typed bool) runner.Output {
	t.Helper()
	payload, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	env := topics.EventEnvelope{AggregateType: topics.OffchainOrder, AggregateID: id, Sequence: seq, EventType: e.EventType(),
		EventVersion: topics.EventVersion, OccurredAt: time.Unix(1, 0).UTC(), CommandID: fmt.Sprintf("c%d", seq), Payload: payload}
	b, err := topics.EncodeEvent(env)
	if err != nil {
		t.Fatal(err)
	}
	o := runner.Output{Topic: topics.OffchainOrderEvents, Key: id, Value: b}
	if typed {
		o.Event = &runner.Event{EventEnvelope: env, Typed: e}
	}
	return o
}

func TestHedgesLatencyAndOpenAge(t *testing.T) {
	m := New()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m.now = func() time.Time { return now }
	placed := now.Add(-time.Hour) // event time: may be a replayed one
	in := runner.Input{Topic: topics.OffchainOrderCommands}
	for i, typed := range []bool{true, false} {
		id := fmt.Sprintf("e%d", i)
		m.Handled("g", in, []runner.Output{orderOut(t, id, 1, offchainorder.Placed{PlacedAt: placed}, typed)})
	}
	m.Handled("g", in, []runner.Output{orderOut(t, "e2", 1, offchainorder.Placed{PlacedAt: placed}, true)})
	now = now.Add(90 * time.Second)
	if got := testutil.ToFloat64(m.hedges.WithLabelValues("placed")); got != 3 {
		t.Errorf("placed = %v, want 3", got)
	}
	if got := m.open.oldestAge(now); got != 90 {
		t.Errorf("open hedge age = %v, want 90 (wall time since seen placed)", got)
	}
	m.Handled("g", in, []runner.Output{orderOut(t, "e0", 2, offchainorder.Filled{FilledAt: placed.Add(1500 * time.Millisecond)}, true)})
	m.Handled("g", in, []runner.Output{orderOut(t, "e1", 2, offchainorder.Filled{FilledAt: placed.Add(3 * time.Second)}, false)})
	m.Handled("g", in, []runner.Output{orderOut(t, "e2", 2, offchainorder.Failed{Error: "x", FailedAt: placed}, true)})
	// A fill of an order this process never saw placed: counted, no latency.
	m.Handled("g", in, []runner.Output{orderOut(t, "e9", 3, offchainorder.Filled{FilledAt: placed}, true)})
	for o, want := range map[string]float64{"filled": 3, "failed": 1} {
		if got := testutil.ToFloat64(m.hedges.WithLabelValues(o)); got != want {
			t.Errorf("%s = %v, want %v", o, got, want)
		}
	}
	if n := m.open.len(); n != 0 || m.open.oldestAge(now) != 0 {
		t.Errorf("%d hedges open after all ended (age %v)", n, m.open.oldestAge(now))
	}
	want := `
# HELP hedgeline_hedge_latency_seconds Time from a hedge's placement to its fill (placed_at to filled_at of its order).
# TYPE hedgeline_hedge_latency_seconds histogram
hedgeline_hedge_latency_seconds_bucket{le="0.05"} 0
hedgeline_hedge_latency_seconds_bucket{le="0.1"} 0
hedgeline_hedge_latency_seconds_bucket{le="0.25"} 0
hedgeline_hedge_latency_seconds_bucket{le="0.5"} 0
hedgeline_hedge_latency_seconds_bucket{le="1"} 0
hedgeline_hedge_latency_seconds_bucket{le="2.5"} 1
hedgeline_hedge_latency_seconds_bucket{le="5"} 2
hedgeline_hedge_latency_seconds_bucket{le="10"} 2
hedgeline_hedge_latency_seconds_bucket{le="30"} 2
hedgeline_hedge_latency_seconds_bucket{le="60"} 2
hedgeline_hedge_latency_seconds_bucket{le="120"} 2
hedgeline_hedge_latency_seconds_bucket{le="300"} 2
hedgeline_hedge_latency_seconds_bucket{le="900"} 2
hedgeline_hedge_latency_seconds_bucket{le="+Inf"} 2
hedgeline_hedge_latency_seconds_sum 4.5
hedgeline_hedge_latency_seconds_count 2
`
	if err := testutil.GatherAndCompare(m.reg, strings.NewReader(want), "hedgeline_hedge_latency_seconds"); err != nil {
		t.Error(err)
	}
	if got := testutil.ToFloat64(m.eventsOut.WithLabelValues(topics.OffchainOrderEvents)); got != 7 {
		t.Errorf("events out on %s = %v, want 7", topics.OffchainOrderEvents, got)
	}
}

func TestFillsEventsAndRejectionKinds(t *testing.T) {
	m := New()
	fill := runner.Input{Topic: topics.OnChainTradeCommands, Key: "AAPL|tx:1"}
	tradeEvent := func(typ string) runner.Output {
		return runner.Output{Topic: topics.OnChainTradeEvents, Value: []byte("{}"),
			Event: &runner.Event{EventEnvelope: topics.EventEnvelope{EventType: typ}}}
	}
	cmd := runner.Output{Topic: topics.PositionCommands, Value: []byte("{}")}
	m.Handled("g", fill, []runner.Output{tradeEvent(onchaintrade.Filled{}.EventType()), cmd})
	m.Handled("g", fill, []runner.Output{tradeEvent(onchaintrade.Enriched{}.EventType())}) // not a fill
	rej, err := runner.Rejection(topics.OnChainTrade, "tx:2", fill, fmt.Errorf("command c: %w", aggregate.FieldErr("amount", errors.New("negative"))))
	if err != nil {
		t.Fatal(err)
	}
	m.Handled("g", fill, []runner.Output{rej})
	if got := testutil.ToFloat64(m.fills); got != 1 {
		t.Errorf("fills = %v, want 1 (one Filled; Enriched and the rejection are none)", got)
	}
	if got := testutil.ToFloat64(m.eventsOut.WithLabelValues(topics.OnChainTradeEvents)); got != 2 {
		t.Errorf("events out = %v, want 2", got)
	}
	if n := testutil.CollectAndCount(m.eventsOut); n != 1 {
		t.Errorf("%d events-out series, want 1 (commands are not events)", n)
	}
	if got := testutil.ToFloat64(m.rejections.WithLabelValues(topics.OnChainTrade, runner.KindInvalid)); got != 1 {
		t.Errorf("rejections{%s,%s} = %v, want 1", topics.OnChainTrade, runner.KindInvalid, got)
	}
	// The reason label never carries the reason's text (ids).
	if n := testutil.CollectAndCount(m.rejections); n != 1 {
		t.Errorf("%d rejection series, want 1", n)
	}
}

func TestHealthzAndExposition(t *testing.T) {
	m := New()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = fmt.Fprint(&b, resp.Header.Get("Content-Type"))
		p := expfmt.NewTextParser(model.UTF8Validation)
		if path == "/metrics" {
			fams, err := p.TextToMetricFamilies(resp.Body)
			if err != nil {
				t.Fatalf("exposition does not parse: %v", err)
			}
			for name := range fams {
				if strings.HasPrefix(name, "hedgeline_") {
					b.WriteString(" " + name)
				}
			}
		}
		return resp.StatusCode, b.String()
	}
	if code, _ := get("/healthz"); code != http.StatusServiceUnavailable {
		t.Errorf("/healthz before ready: %d, want 503", code)
	}
	m.SetReady(true)
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz when ready: %d, want 200", code)
	}
	m.SetReady(false)
	if code, _ := get("/healthz"); code != http.StatusServiceUnavailable {
		t.Errorf("/healthz after stop: %d, want 503", code)
	}
	code, names := get("/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	for _, n := range []string{"hedgeline_hedges_total", "hedgeline_open_hedge_age_seconds", "hedgeline_ready"} {
		if !strings.Contains(names, n) {
			t.Errorf("/metrics lacks %s: %s", n, names)
		}
	}
}

func TestBrokerTransportOutcomes(t *testing.T) {
	m := New()
	statuses := []int{200, 201, 429, 429, 404, 503}
	i := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(statuses[i])
		i++
	}))
	cl := &http.Client{Transport: m.BrokerTransport("alpaca", nil)}
	for range statuses {
		resp, err := cl.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	srv.Close()
	if _, err := cl.Get(srv.URL); err == nil {
		t.Fatal("request to a closed server succeeded")
	}
	for o, want := range map[string]float64{"ok": 2, "rate_limited": 2, "client_error": 1, "server_error": 1, "network_error": 1} {
		if got := testutil.ToFloat64(m.brokerReqs.WithLabelValues("alpaca", o)); got != want {
			t.Errorf("broker requests %s = %v, want %v", o, got, want)
		}
	}
	var nilM *Metrics
	if rt := nilM.BrokerTransport("alpaca", nil); rt != nil {
		t.Errorf("nil metrics wrapped the transport: %T", rt)
	}
}

func TestChainGaugesAppearWithTheSource(t *testing.T) {
	m := New()
	if n, err := testutil.GatherAndCount(m.reg, "hedgeline_chain_lag_blocks"); err != nil || n != 0 {
		t.Fatalf("chain lag before any report: %d series (%v), want none", n, err)
	}
	m.ObserveChain(120, 101) // blocks 101..120 to go
	m.ObserveChain(130, 121)
	for name, want := range map[string]float64{"target": 130, "next": 121, "lag": 10} {
		g := map[string]prometheus.Gauge{"target": m.chainTarget, "next": m.chainNext, "lag": m.chainLag}[name]
		if got := testutil.ToFloat64(g); got != want {
			t.Errorf("chain %s = %v, want %v", name, got, want)
		}
	}
	m.ObserveChain(130, 131) // caught up
	if got := testutil.ToFloat64(m.chainLag); got != 0 {
		t.Errorf("chain lag caught up = %v, want 0", got)
	}
}
