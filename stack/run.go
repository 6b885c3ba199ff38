package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hedgeline/hedgeline/embedded/kafka"
	"github.com/hedgeline/hedgeline/internal/statedir"
	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/offchainorder/ordermanager"
	"github.com/hedgeline/hedgeline/processors/onchaintrade/trademanager"
	"github.com/hedgeline/hedgeline/processors/runner"
	"github.com/hedgeline/hedgeline/sources/chain"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Run locks cfg.StateDir for this process, then runs until ctx ends or a
// role fails. ready, if not nil, is closed once every role has recovered
// its state and is processing.
func Run(ctx context.Context, cfg Config, ready chan<- struct{}) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	dir, err := statedir.Open(cfg.StateDir)
	if err != nil {
		return err
	}
	defer dir.Close()
	return RunLocked(ctx, cfg, ready)
}

// RunLocked is Run in a state dir the caller has locked (statedir.Open).
func RunLocked(ctx context.Context, cfg Config, ready chan<- struct{}) error {
	cfg.Roles = cfg.Roles.withParts()
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if cfg.Pprof != "" {
		go func() {
			log.Info("pprof listening", "addr", cfg.Pprof)
			if err := http.ListenAndServe(cfg.Pprof, nil); err != nil {
				log.Warn("pprof server stopped", "err", err)
			}
		}()
	}

	var embedded *kafka.Broker
	if cfg.Embedded.Kafka {
		b, err := startEmbeddedKafka(cfg, log)
		if err != nil {
			return err
		}
		defer b.Close()
		cfg.Kafka.Seeds = []string{b.Addr()}
		embedded = b
	}
	k := cfg.Kafka
	if cfg.Roles["sinks"] && cfg.ClickHouse.Addr == "" && cfg.Embedded.Kafka {
		srv, err := startEmbeddedClickHouse(ctx, cfg, log)
		if err != nil {
			return err
		}
		// Deferred before the database is opened, so it runs after db.Close:
		// the embedded engine must see no open client when it stops.
		defer stopClickHouse(srv, log)
		cfg.ClickHouse.Addr = srv.Addr()
	}

	admClient, err := kgo.NewClient(k.Opts()...)
	if err != nil {
		return fmt.Errorf("kafka admin client: %w", err)
	}
	defer admClient.Close()
	adm := kadm.NewClient(admClient)
	if err := EnsureTopics(ctx, adm, cfg.Partitions, cfg.Replication, log); err != nil {
		return err
	}

	rc := runner.Config{
		Kafka:       k,
		StateDir:    filepath.Join(cfg.StateDir, "tables"),
		Replication: int(cfg.Replication),
		Partitions:  cfg.Partitions,
		Hasher:      topics.NewSymbolHash,
		Logger:      log,
		Tuning:      cfg.Tuning,
		Retry:       diskFullRetry(cfg, embedded),
	}
	var lagGroups []string // consumer groups of this process, whose lag the metrics read
	if cfg.Metrics != nil {
		rc.Observer = cfg.Metrics
		defer cfg.Metrics.SetReady(false)
	}
	var procs []*runner.Processor
	add := func(p *runner.Processor, err error) error {
		if err != nil {
			return err
		}
		procs = append(procs, p)
		return nil
	}
	w := wiring{authKey: cfg.EncryptionKey, trade: trademanager.Config{Threshold: cfg.Threshold, Execution: cfg.Execution}}
	var background []func(context.Context) error
	if cfg.Roles["trade-manager"] { // with onchain-trade (withParts)
		backlog, err := trademanager.NewBacklog(trademanager.BacklogConfig{
			Admin: adm, Topic: topics.PositionCommands, Group: runner.GroupOf(topics.Position),
			Limit: int64(cfg.CommandBacklog), Interval: 100 * time.Millisecond, Logger: log,
		})
		if err != nil {
			return err
		}
		background = append(background, backlog.Run)
		w.trade.Backlog = backlog
	}
	if cfg.Roles["order-manager"] {
		poller, run, err := buildOrderManager(ctx, cfg, rc, log)
		if err != nil {
			return err
		}
		background = append(background, run...)
		w.poller = poller
	}
	for _, st := range topology(w) {
		if st.runs(cfg.Roles) {
			lagGroups = append(lagGroups, st.group)
			if err := add(st.build(rc)); err != nil {
				return err
			}
		}
	}

	if cfg.Roles["sinks"] {
		if cfg.ClickHouse.Addr == "" {
			log.Info("no --clickhouse address: views are not projected")
		} else {
			db, err := OpenViews(ctx, cfg.ClickHouse, log)
			if err != nil {
				return err
			}
			defer db.Close()
			runs, err := projectorRuns(db, k, cfg.Metrics, log)
			if err != nil {
				return err
			}
			background = append(background, runs...)
			lagGroups = append(lagGroups, sinkGroups()...)
		}
	}
	if cfg.Metrics != nil {
		defer cfg.Metrics.WatchLag(adm, lagGroups)()
	}

	if cfg.Roles["chain"] {
		if cfg.Chain == nil || cfg.Chain.RPCURL == "" {
			log.Info("no --chain-rpc-url: the chain source does not run")
		} else {
			kc, err := kgo.NewClient(topics.ClientOpts(k, kgo.ProducerLinger(5*time.Millisecond))...)
			if err != nil {
				return fmt.Errorf("chain source kafka client: %w", err)
			}
			defer kc.Close()
			cc := *cfg.Chain
			if m := cfg.Metrics; m != nil {
				cc.Source.Observe = func(p chain.Progress) { m.ObserveChain(p.Target, p.Next) }
			}
			src, closeRPC, err := OpenChain(ctx, cc, kc, log, nil)
			if err != nil {
				return err
			}
			defer closeRPC()
			background = append(background, src.Run)
		}
	}

	var wg sync.WaitGroup
	errs := make(chan error, len(procs)+len(background))
	start := func(f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil {
				errs <- err
				cancel()
			}
		}()
	}
	for _, p := range procs {
		start(p.Run)
	}
	for _, f := range background {
		start(f)
	}

	// In wg so that the metrics' readiness is cleared after it (deferred).
	wg.Add(1)
	go func() {
		defer wg.Done()
		for _, p := range procs {
			if err := p.WaitReady(ctx); err != nil {
				return
			}
		}
		names := make([]string, 0, len(cfg.Roles))
		for r := range cfg.Roles {
			names = append(names, r)
		}
		sort.Strings(names)
		log.Info("hedgeline ready", "roles", strings.Join(names, ","), "brokers", strings.Join(k.Seeds, ","), "kafka_security", k.Security.String(),
			"broker", cfg.Execution.Broker, "threshold", cfg.Threshold.String(), "clickhouse", cfg.ClickHouse.Addr)
		if cfg.Metrics != nil && ctx.Err() == nil {
			cfg.Metrics.SetReady(true)
		}
		if ready != nil {
			close(ready)
		}
	}()

	<-ctx.Done()
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

// buildOrderManager wires the broker poller (which reads the order stage's
// table through a goka view); the order placer and the tracker run inside
// the position and order stages of the topology, the tracker wired to the
// poller.
func buildOrderManager(ctx context.Context, cfg Config, rc runner.Config,
	log *slog.Logger) (*ordermanager.Poller, []func(context.Context) error, error) {
	broker, err := openBroker(ctx, cfg, rc, log)
	if err != nil {
		return nil, nil, err
	}
	producer, err := kgo.NewClient(topics.ClientOpts(rc.Kafka)...)
	if err != nil {
		broker.close()
		return nil, nil, fmt.Errorf("order poller producer: %w", err)
	}
	view, err := runner.TableView(rc, runner.GroupOf(topics.OffchainOrder))
	if err != nil {
		broker.close()
		producer.Close()
		return nil, nil, err
	}
	// The poller places only hedges their position has pending, as the
	// order placer publishes them (topics.PendingHedges).
	posView, err := runner.TopicView(rc, topics.PendingHedges)
	if err != nil {
		broker.close()
		producer.Close()
		return nil, nil, err
	}
	poller, err := ordermanager.NewPoller(ordermanager.PollerConfig{
		Broker: broker.Broker, Orders: viewOrders{view}, Producer: producer, Positions: viewPositions{posView},
		Partitions: cfg.Partitions, Interval: cfg.PollInterval, StaleAfter: cfg.StaleAfter,
		NotPendingGrace: cfg.NotPendingGrace, MaxBackoff: time.Minute, Logger: log.With("role", "order-poller"),
	})
	if err != nil {
		return nil, nil, err
	}
	runViews := func(ctx context.Context) error {
		errs := make(chan error, 2)
		for name, v := range map[string]*goka.View{"order tracker view": view, "pending hedges view": posView} {
			go func() {
				err := v.Run(ctx)
				if err != nil && !errors.Is(err, context.Canceled) {
					err = fmt.Errorf("%s: %w", name, err)
				} else {
					err = nil
				}
				errs <- err
			}()
		}
		return errors.Join(<-errs, <-errs)
	}
	runPoller := func(ctx context.Context) error {
		defer broker.close()
		defer producer.Close()
		// Poll only once the views have caught up with their tables.
		for !view.Recovered() || !posView.Recovered() {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(50 * time.Millisecond):
			}
		}
		return poller.Run(ctx)
	}
	return poller, append([]func(context.Context) error{runViews, runPoller}, broker.background...), nil
}

// viewPositions reads which hedge a position has pending from
// topics.PendingHedges through a goka view.
type viewPositions struct{ v *goka.View }

func (p viewPositions) Pending(symbol market.Symbol) (string, error) {
	raw, err := p.v.Get(string(symbol))
	if err != nil || raw == nil {
		return "", err
	}
	h, err := ordermanager.DecodePendingHedge(raw.([]byte))
	if err != nil {
		return "", fmt.Errorf("%s: %w", symbol, err)
	}
	return h.ExecutionID, nil
}

// viewOrders lists the order stage's table through a goka view.
type viewOrders struct{ v *goka.View }

func (o viewOrders) Get(executionID string) ([]byte, error) {
	v, err := o.v.Get(executionID)
	if err != nil || v == nil {
		return nil, err
	}
	return v.([]byte), nil
}

func (o viewOrders) Each(fn func(key string, raw []byte) error) error {
	it, err := o.v.Iterator()
	if err != nil {
		return fmt.Errorf("iterate order tracker table: %w", err)
	}
	defer it.Release()
	for it.Next() {
		v, err := it.Value()
		if err != nil {
			return fmt.Errorf("order %s: %w", it.Key(), err)
		}
		if v == nil {
			continue
		}
		if err := fn(it.Key(), v.([]byte)); err != nil {
			return err
		}
	}
	return nil
}

func startEmbeddedKafka(cfg Config, log *slog.Logger) (*kafka.Broker, error) {
	dataDir := filepath.Join(cfg.StateDir, "kafka")
	tables := filepath.Join(cfg.StateDir, "tables")
	// goka refuses local tables that are ahead of the broker; a fresh broker
	// means the local tables belong to a log that no longer exists.
	if _, err := os.Stat(dataDir); errors.Is(err, os.ErrNotExist) {
		if err := os.RemoveAll(tables); err != nil {
			return nil, fmt.Errorf("reset local tables for a fresh broker: %w", err)
		}
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("embedded broker data dir: %w", err)
	}
	var users []kafka.User
	if mech, user, password := cfg.Kafka.Security.Credentials(); mech != "" {
		users = append(users, kafka.User{Mechanism: mech, Name: user, Password: password})
	}
	b, err := kafka.Start(kafka.Config{Listen: cfg.Embedded.Listen, DataDir: dataDir, Partitions: cfg.Partitions, Logger: log,
		TLS: cfg.Embedded.TLS, Users: users})
	if err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	log.Info("embedded broker started", "addr", b.Addr(), "data_dir", dataDir)
	return b, nil
}
