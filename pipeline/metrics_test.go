package main

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/processors/runner"
	"github.com/hedgeline/hedgeline/stack"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kgo"

	dto "github.com/prometheus/client_model/go"
)

// kitScrape reads and parses addr's /metrics with the Prometheus text
// parser.
func kitScrape(addr string) (map[string]*dto.MetricFamily, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parse /metrics: %w", err)
	}
	return fams, nil
}

// kitMetric is the value of name's series whose labels include want (0 if
// none); n is how many series matched.
func kitMetric(fams map[string]*dto.MetricFamily, name string, want map[string]string) (v float64, n int) {
	f := fams[name]
	if f == nil {
		return 0, 0
	}
next:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, w := range want {
			if labels[k] != w {
				continue next
			}
		}
		n++
		switch {
		case m.Counter != nil:
			v += m.GetCounter().GetValue()
		case m.Gauge != nil:
			v += m.GetGauge().GetValue()
		case m.Histogram != nil:
			v += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return v, n
}

// A known scenario through the whole pipeline, then /metrics agrees with
// what the topics hold: fills in, events out per topic, hedges placed and
// filled, one rejection by kind, the hedge latency histogram, consumer lag
// per group; /healthz answers 200 while it runs.
func TestMetricsAfterAScenario(t *testing.T) {
	addr := kitStartBroker(t)
	dir := t.TempDir()
	maddr := kitFreeAddr(t)
	cfg := testRunConfig(t, addr, filepath.Join(dir, "state"), filepath.Join(dir, "ledger.jsonl"), "--metrics-listen", maddr, "--dry-run-failure-rate", "0.3")
	p := kitStartPipeline(t, "pipeline", cfg)

	resp, err := http.Get("http://" + maddr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz while running: %s %q, want 200", resp.Status, body)
	}

	// A broker refusing 30% of orders: hedges fill and fail.
	fills := kitGenFills(kitSeed(t, "fills"), 60, 3, 37_000_000)
	cl := kitNewProducer(t, addr)
	kitProduceFills(t, cl, fills)
	// One undecodable command: a rejection of kind "undecodable".
	kitProduce(t, cl, &kgo.Record{Topic: topics.OnChainTradeCommands, Key: []byte("AAPL|junk"), Value: []byte("not json")})
	snap := kitWaitSettled(t, addr, fills, settleTimeout, p.check)

	var placed, filled, failed int
	for _, h := range snap.orders {
		for _, e := range h.events {
			switch e.EventType {
			case "OffchainOrderEvent::Placed":
				placed++
			case "OffchainOrderEvent::Filled":
				filled++
			case "OffchainOrderEvent::Failed":
				failed++
			}
		}
	}
	// (Which orders fail depends on their ids, so a run may see none.)
	if placed == 0 || filled+failed == 0 {
		t.Fatalf("scenario placed %d hedges, filled %d, failed %d: want hedges that ended", placed, filled, failed)
	}
	eventsOn := map[string]int{}
	for _, topic := range []string{topics.OnChainTradeEvents, topics.PositionEvents, topics.OffchainOrderEvents, topics.PnLEvents} {
		eventsOn[topic] = len(kitReadTopic(t, addr, topic))
	}

	type want struct {
		name   string
		labels map[string]string
		value  float64
	}
	wants := []want{
		{"hedgeline_fills_total", nil, float64(len(fills))},
		{"hedgeline_hedges_total", map[string]string{"outcome": "placed"}, float64(placed)},
		{"hedgeline_hedges_total", map[string]string{"outcome": "filled"}, float64(filled)},
		{"hedgeline_hedges_total", map[string]string{"outcome": "failed"}, float64(failed)},
		{"hedgeline_hedge_latency_seconds", nil, float64(filled)},
		{"hedgeline_rejections_total", map[string]string{"aggregate": topics.OnChainTrade, "reason": "undecodable"}, 1},
		{"hedgeline_rejections_total", nil, 1},
		{"hedgeline_open_hedges", nil, float64(placed - filled - failed)},
		{"hedgeline_ready", nil, 1},
	}
	for topic, n := range eventsOn {
		wants = append(wants, want{"hedgeline_events_out_total", map[string]string{"topic": topic}, float64(n)})
	}
	// Every stage's group but broker-auth's (no encryption key: the role
	// is dropped), and no sink group (no ClickHouse).
	var groups []string
	for _, g := range stack.StateGroups() {
		if g != runner.GroupOf(topics.BrokerAuth) {
			groups = append(groups, g)
		}
	}
	var fams map[string]*dto.MetricFamily
	// The counters follow the emits by microseconds: wait for them briefly.
	kitWaitFor(t, 15*time.Second, "metrics equal to the scenario's counts", func() (bool, string) {
		f, err := kitScrape(maddr)
		if err != nil {
			return false, err.Error()
		}
		fams = f
		var bad []string
		for _, w := range wants {
			if got, _ := kitMetric(fams, w.name, w.labels); got != w.value {
				bad = append(bad, fmt.Sprintf("%s%v = %v, want %v", w.name, w.labels, got, w.value))
			}
		}
		for _, g := range groups {
			if up, _ := kitMetric(fams, "hedgeline_consumer_lag_up", map[string]string{"group": g}); up != 1 {
				bad = append(bad, fmt.Sprintf("group %s: lag not read", g))
			}
			// Every partition of the group's input is reported.
			if _, n := kitMetric(fams, "hedgeline_consumer_lag_records", map[string]string{"group": g}); n < testPartitions {
				bad = append(bad, fmt.Sprintf("group %s: lag of %d partitions, want %d or more", g, n, testPartitions))
			}
			// Settled: every group commits up to the end.
			if lag, _ := kitMetric(fams, "hedgeline_consumer_lag_records", map[string]string{"group": g}); lag != 0 {
				bad = append(bad, fmt.Sprintf("group %s: lag %v after the scenario settled, want 0", g, lag))
			}
		}
		return len(bad) == 0, strings.Join(bad, "; ")
	})
	t.Logf("%d fills, %d hedges placed, %d filled, %d failed; events out %v", len(fills), placed, filled, failed, eventsOn)
}

// kitCheckBrokerRequests compares the hedgeline_broker_requests_total of
// broker at addr with want (by outcome), and checks at least minOK
// requests succeeded.
func kitCheckBrokerRequests(t *testing.T, addr, broker string, want map[string]float64, minOK int) {
	t.Helper()
	fams, err := kitScrape(addr)
	if err != nil {
		t.Fatal(err)
	}
	for outcome, w := range want {
		if got, _ := kitMetric(fams, "hedgeline_broker_requests_total", map[string]string{"broker": broker, "outcome": outcome}); got != w {
			t.Errorf("%s requests %s = %v, want %v", broker, outcome, got, w)
		}
	}
	if ok, _ := kitMetric(fams, "hedgeline_broker_requests_total", map[string]string{"broker": broker, "outcome": "ok"}); ok < float64(minOK) {
		t.Errorf("%s requests ok = %v, want at least %d", broker, ok, minOK)
	}
}

// --metrics-listen comes from HEDGELINE_METRICS_LISTEN too, and an address
// that cannot be bound stops the start, naming the flag.
func TestMetricsListenFlag(t *testing.T) {
	t.Setenv("HEDGELINE_METRICS_LISTEN", "127.0.0.1:1")
	var cfg runConfig
	fs := newFlagSet("run", nil)
	cfg.register(fs)
	if err := parse(fs, nil); err != nil {
		t.Fatal(err)
	}
	if cfg.metricsListen != "127.0.0.1:1" {
		t.Fatalf("--metrics-listen from the environment: %q", cfg.metricsListen)
	}
	var sc stack.Config
	_, err := serveMetrics("256.0.0.1:0", &sc, testLogger(t, "metrics"))
	if err == nil || !strings.Contains(err.Error(), "--metrics-listen 256.0.0.1:0") || sc.Metrics != nil {
		t.Fatalf("a bad address: %v (metrics %v), want an error naming --metrics-listen", err, sc.Metrics)
	}
	stop, err := serveMetrics("", &sc, testLogger(t, "metrics"))
	if err != nil || sc.Metrics != nil {
		t.Fatalf("no address: %v, metrics %v; want none served", err, sc.Metrics)
	}
	stop()
}
