package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	_ "net/http/pprof" // served only with --pprof
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hedgeline/hedgeline/embedded/kafka"
	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/hedgeline/hedgeline/processors/brokerauth"
	"github.com/hedgeline/hedgeline/processors/managers"
	"github.com/hedgeline/hedgeline/processors/offchainorder"
	"github.com/hedgeline/hedgeline/processors/onchaintrade"
	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/hedgeline/hedgeline/processors/runner"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func init() {
	register("run", "run the pipeline's roles (all by default) against a Kafka cluster", runPipelineCmd)
}

func runPipelineCmd(ctx context.Context, args []string, _ io.Writer) error {
	var cfg runConfig
	fs := newFlagSet("run", os.Stderr)
	cfg.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	log, err := newLoggerFormat(cfg.logLevel, cfg.logFormat)
	if err != nil {
		return err
	}
	return runPipeline(ctx, cfg, log, nil)
}

// runPipeline locks the state dir, then runs until ctx ends or a role
// fails. ready, if not nil, is closed once every role has recovered its
// state and is processing.
func runPipeline(ctx context.Context, cfg runConfig, log *slog.Logger, ready chan<- struct{}) error {
	if _, err := cfg.resolve(); err != nil {
		return err
	}
	dir, err := openStateDir(cfg)
	if err != nil {
		return err
	}
	defer dir.Close()
	return runInStateDir(ctx, cfg, log, ready)
}

// runInStateDir is runPipeline in a state dir this process has locked.
func runInStateDir(ctx context.Context, cfg runConfig, log *slog.Logger, ready chan<- struct{}) error {
	set, err := cfg.resolve()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if cfg.pprof != "" {
		go func() {
			log.Info("pprof listening", "addr", cfg.pprof)
			if err := http.ListenAndServe(cfg.pprof, nil); err != nil {
				log.Warn("pprof server stopped", "err", err)
			}
		}()
	}

	var embedded *kafka.Broker
	if cfg.embedded {
		b, err := startEmbeddedKafka(cfg, log)
		if err != nil {
			return err
		}
		defer b.Close()
		cfg.kafka.brokers = b.Addr()
		embedded = b
	}
	brokers := cfg.kafka.list()
	if set.roles["sinks"] && cfg.ch.addr == "" && cfg.embedded {
		srv, err := startEmbeddedClickHouse(ctx, cfg, log)
		if err != nil {
			return err
		}
		// Deferred before the database is opened, so it runs after db.Close:
		// the embedded engine must see no open client when it stops.
		defer stopClickHouse(srv, log)
		cfg.ch.addr = srv.Addr()
	}

	admClient, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return fmt.Errorf("kafka admin client: %w", err)
	}
	defer admClient.Close()
	adm := kadm.NewClient(admClient)
	if err := ensureTopics(ctx, adm, cfg.kafka, log); err != nil {
		return err
	}

	rc := runner.Config{
		Brokers:     brokers,
		StateDir:    filepath.Join(cfg.stateDir, "tables"),
		Replication: cfg.kafka.replication,
		Partitions:  int32(cfg.kafka.partitions),
		Hasher:      topics.NewSymbolHash,
		Logger:      log,
		Tuning:      set.tuning,
		Retry:       diskFullRetry(cfg, embedded),
	}
	var procs []*runner.Processor
	add := func(p *runner.Processor, err error) error {
		if err != nil {
			return err
		}
		procs = append(procs, p)
		return nil
	}
	authKey, err := brokerAuthKey(cfg, set, log) // without a key, drops the broker-auth role
	if err != nil {
		return err
	}
	for _, agg := range []struct {
		role  string
		build func() (*runner.Processor, error)
	}{
		{"onchain-trade", func() (*runner.Processor, error) { return buildAggregate(onchaintrade.Definition, rc) }},
		{"position", func() (*runner.Processor, error) { return buildAggregate(position.Definition, rc) }},
		{"offchain-order", func() (*runner.Processor, error) { return buildAggregate(offchainorder.Definition, rc) }},
		{"broker-auth", func() (*runner.Processor, error) { return buildAggregate(brokerauth.NewDefinition(authKey), rc) }},
	} {
		if set.roles[agg.role] {
			if err := add(agg.build()); err != nil {
				return err
			}
		}
	}
	var background []func(context.Context) error
	if set.roles["trade-manager"] {
		backlog, err := managers.NewBacklog(managers.BacklogConfig{
			Admin: adm, Topic: topics.PositionCommands, Group: runner.GroupOf(topics.Position),
			Limit: int64(cfg.commandBacklog), Interval: 100 * time.Millisecond, Logger: log,
		})
		if err != nil {
			return err
		}
		background = append(background, backlog.Run)
		st := managers.TradeManager(managers.TradeConfig{Threshold: set.threshold, Execution: set.execution, Backlog: backlog})
		if err := add(runner.Build(st, rc)); err != nil {
			return err
		}
	}
	if set.roles["pnl"] {
		if err := add(runner.Build(managers.PnL(), rc)); err != nil {
			return err
		}
	}

	if set.roles["order-manager"] {
		run, err := buildOrderManager(ctx, cfg, set, rc, log, add)
		if err != nil {
			return err
		}
		background = append(background, run...)
	}

	if set.roles["sinks"] {
		if cfg.ch.addr == "" {
			log.Info("no --clickhouse address: views are not projected")
		} else {
			db, err := openViews(ctx, cfg.ch, log)
			if err != nil {
				return err
			}
			defer db.Close()
			runs, err := projectorRuns(db, brokers, log)
			if err != nil {
				return err
			}
			background = append(background, runs...)
		}
	}

	if set.roles["chain"] {
		if cfg.chain.rpcURL == "" {
			log.Info("no --chain-rpc-url: the chain source does not run")
		} else {
			kc, err := kgo.NewClient(append(topics.ClientOpts(brokers), kgo.ProducerLinger(5*time.Millisecond))...)
			if err != nil {
				return fmt.Errorf("chain source kafka client: %w", err)
			}
			defer kc.Close()
			src, closeRPC, err := cfg.chain.source(ctx, "chain-", kc, log, nil)
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

	go func() {
		for _, p := range procs {
			if err := p.WaitReady(ctx); err != nil {
				return
			}
		}
		names := make([]string, 0, len(set.roles))
		for r := range set.roles {
			names = append(names, r)
		}
		sort.Strings(names)
		log.Info("hedgeline ready", "roles", strings.Join(names, ","), "brokers", strings.Join(brokers, ","),
			"broker", set.execution.Broker, "threshold", set.threshold.String(), "clickhouse", cfg.ch.addr)
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

func buildAggregate[S any](def aggregate.Definition[S], rc runner.Config) (*runner.Processor, error) {
	st, err := runner.AggregateStage(def)
	if err != nil {
		return nil, err
	}
	return runner.Build(st, rc)
}

// buildOrderManager wires the order placer, the tracker and the broker
// poller (which reads the tracker's table through a goka view).
func buildOrderManager(ctx context.Context, cfg runConfig, set settings, rc runner.Config,
	log *slog.Logger, add func(*runner.Processor, error) error) ([]func(context.Context) error, error) {
	broker, err := openBroker(ctx, cfg, set, rc, log)
	if err != nil {
		return nil, err
	}
	producer, err := kgo.NewClient(topics.ClientOpts(rc.Brokers)...)
	if err != nil {
		broker.close()
		return nil, fmt.Errorf("order poller producer: %w", err)
	}
	view, err := runner.TableView(rc, managers.OrderTrackerGroup)
	if err != nil {
		broker.close()
		producer.Close()
		return nil, err
	}
	// The poller places only hedges their position has pending, as the
	// order placer's table records them (one small record per symbol).
	posView, err := runner.TableView(rc, managers.OrderPlacerGroup)
	if err != nil {
		broker.close()
		producer.Close()
		return nil, err
	}
	poller, err := managers.NewPoller(managers.PollerConfig{
		Broker: broker.Broker, Orders: viewOrders{view}, Producer: producer, Positions: viewPositions{posView},
		Partitions: int32(cfg.kafka.partitions), Interval: cfg.pollInterval, StaleAfter: cfg.staleAfter,
		NotPendingGrace: cfg.notPendingGrace, MaxBackoff: time.Minute, Logger: log.With("role", "order-poller"),
	})
	if err != nil {
		return nil, err
	}
	if err := add(runner.Build(managers.OrderPlacer(), rc)); err != nil {
		return nil, err
	}
	if err := add(runner.Build(poller.Tracking(managers.OrderTracker()), rc)); err != nil {
		return nil, err
	}
	runViews := func(ctx context.Context) error {
		errs := make(chan error, 2)
		for name, v := range map[string]*goka.View{"order tracker view": view, "position view": posView} {
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
	return append([]func(context.Context) error{runViews, runPoller}, broker.background...), nil
}

// viewPositions reads which hedge a position has pending from the order
// placer's table through a goka view.
type viewPositions struct{ v *goka.View }

func (p viewPositions) Pending(symbol market.Symbol) (string, error) {
	raw, err := p.v.Get(string(symbol))
	if err != nil || raw == nil {
		return "", err
	}
	st, err := runner.DecodeState[managers.PendingHedge](raw.([]byte))
	if err != nil {
		return "", fmt.Errorf("order placer record of %s: %w", symbol, err)
	}
	return st.ExecutionID, nil
}

// viewOrders lists the order tracker's table through a goka view.
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

func startEmbeddedKafka(cfg runConfig, log *slog.Logger) (*kafka.Broker, error) {
	dataDir := filepath.Join(cfg.stateDir, "kafka")
	tables := filepath.Join(cfg.stateDir, "tables")
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
	b, err := kafka.Start(kafka.Config{Listen: cfg.embeddedListen, DataDir: dataDir, Partitions: int32(cfg.kafka.partitions), Logger: log})
	if err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	log.Info("embedded broker started", "addr", b.Addr(), "data_dir", dataDir)
	return b, nil
}

// stateGroups are the goka groups that keep a table.
var stateGroups = []string{
	runner.GroupOf(topics.OnChainTrade), runner.GroupOf(topics.Position), runner.GroupOf(topics.OffchainOrder),
	runner.GroupOf(topics.BrokerAuth), managers.OrderTrackerGroup, managers.PnLGroup, managers.TradeManagerGroup, managers.OrderPlacerGroup,
}

func ensureTopics(ctx context.Context, adm *kadm.Client, k kafkaFlags, log *slog.Logger) error {
	rep, err := topics.Ensure(ctx, adm, catalogSpecs(k))
	if err != nil {
		return fmt.Errorf("topics: %w", err)
	}
	if len(rep.Created) > 0 {
		log.Info("topics created", "topics", strings.Join(rep.Created, ","))
	}
	return nil
}
