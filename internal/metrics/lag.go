package metrics

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
)

// lagTimeout bounds the Kafka requests of one scrape.
const lagTimeout = 3 * time.Second

var (
	lagDesc = prometheus.NewDesc("hedgeline_consumer_lag_records",
		"Records a consumer group has yet to commit on a partition: end offset minus committed offset (kadm), read at scrape time.",
		[]string{"group", "topic", "partition"}, nil)
	lagErrDesc = prometheus.NewDesc("hedgeline_consumer_lag_up",
		"1 if the last scrape read the group's lag from Kafka, 0 if it could not.",
		[]string{"group"}, nil)
)

// lagCollector reads the groups' lag from Kafka on each scrape.
type lagCollector struct {
	adm    *kadm.Client
	groups []string
}

// WatchLag adds the consumer lag of groups, read through adm at every
// scrape, to the registry; the returned func removes it (before adm is
// closed).
func (m *Metrics) WatchLag(adm *kadm.Client, groups []string) (remove func()) {
	c := &lagCollector{adm: adm, groups: groups}
	if err := m.reg.Register(c); err != nil {
		return func() {}
	}
	return func() { m.reg.Unregister(c) }
}

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- lagDesc
	ch <- lagErrDesc
}

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), lagTimeout)
	defer cancel()
	lags, err := c.adm.Lag(ctx, c.groups...)
	for _, g := range c.groups {
		gl, ok := lags[g]
		if err != nil || !ok || gl.DescribeErr != nil || gl.FetchErr != nil {
			ch <- prometheus.MustNewConstMetric(lagErrDesc, prometheus.GaugeValue, 0, g)
			continue
		}
		ch <- prometheus.MustNewConstMetric(lagErrDesc, prometheus.GaugeValue, 1, g)
		for _, l := range gl.Lag.Sorted() {
			if l.Err != nil || l.Lag < 0 {
				continue
			}
			ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, float64(l.Lag),
				g, l.Topic, strconv.Itoa(int(l.Partition)))
		}
	}
}
