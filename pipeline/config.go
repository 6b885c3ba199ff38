package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/hedgeline/hedgeline/brokers/dryrun"
	"github.com/hedgeline/hedgeline/embedded/kafka"
	"github.com/hedgeline/hedgeline/internal/kafkasec"
	"github.com/hedgeline/hedgeline/internal/tlsconf"
	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/runner"
	"github.com/hedgeline/hedgeline/stack"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/shopspring/decimal"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Roles a process can run; "all" runs every one.
var allRoles = stack.AllRoles

// kafkaFlags are shared by every command that talks to Kafka.
type kafkaFlags struct {
	brokers     string
	partitions  int
	replication int
	sec         kafkasec.Flags // --kafka-tls-*, --kafka-sasl-*
}

func (k *kafkaFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&k.brokers, "brokers", "127.0.0.1:9092", "comma-separated Kafka bootstrap addresses")
	fs.IntVar(&k.partitions, "partitions", 4, "partitions of every topic (all topics share one count: goka copartitions)")
	fs.IntVar(&k.replication, "replication", 1, "replication factor of created topics")
	k.sec.Register(fs)
}

// cluster is the brokers and the security every client of the command
// connects with (the TLS and password files are read here).
func (k kafkaFlags) cluster() (kafkasec.Cluster, error) {
	sec, err := k.sec.Load()
	if err != nil {
		return kafkasec.Cluster{}, err
	}
	return kafkasec.Cluster{Seeds: k.list(), Security: sec}, nil
}

// producer is a client with hedgeline's producer options (topics.ClientOpts)
// and a 5 ms linger: the CLI's sources produce in bursts.
func (k kafkaFlags) producer() (*kgo.Client, error) {
	c, err := k.cluster()
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(topics.ClientOpts(c, kgo.ProducerLinger(5*time.Millisecond))...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	return cl, nil
}

func (k kafkaFlags) list() []string {
	var out []string
	for _, b := range strings.Split(k.brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

func (k kafkaFlags) validate() []error {
	var errs []error
	if len(k.list()) == 0 {
		errs = append(errs, errors.New("--brokers: no address given"))
	}
	if k.partitions < 1 || k.partitions > 1024 {
		errs = append(errs, fmt.Errorf("--partitions: want 1..1024, got %d", k.partitions))
	}
	if k.replication < 1 {
		errs = append(errs, fmt.Errorf("--replication: want at least 1, got %d", k.replication))
	}
	if _, err := k.sec.Load(); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// runConfig is everything `hedgeline run` is configured with.
type runConfig struct {
	kafka            kafkaFlags
	stateDir         string
	chain            chainFlags // the chain role's source (--chain-*)
	embedded         bool
	embeddedListen   string
	embeddedTLS      tlsconf.ServerFlags
	roles            string
	broker           string
	brokers          brokerFlags // each broker's own flags (--alpaca-*, --schwab-*)
	key              keyFlags    // the broker-auth encryption key
	fractional       string      // "", "true", "false": default per broker
	thresholdShares  string
	thresholdDollars string
	dryRunLedger     string
	dryRunPrice      string
	dryRunFillDelay  time.Duration
	dryRunFailRate   float64
	dryRunClock      string
	pollInterval     time.Duration
	staleAfter       time.Duration
	notPendingGrace  time.Duration
	commandBacklog   int
	fastGroups       bool
	producerLinger   time.Duration
	logLevel         string
	logFormat        string
	pprof            string
	metricsListen    string
	ch               chFlags
	embeddedCHPort   int
	clickhouseLib    string
}

func (c *runConfig) register(fs *flag.FlagSet) {
	c.kafka.register(fs)
	fs.StringVar(&c.stateDir, "state-dir", ".state", "directory for local state: goka tables, and the embedded broker's data")
	fs.BoolVar(&c.embedded, "embedded", false, "also start the embedded Kafka-protocol broker in this process")
	fs.StringVar(&c.embeddedListen, "embedded-listen", kafka.DefaultListen, "listen address of the embedded broker")
	c.embeddedTLS.Register(fs, "embedded-tls", "the embedded broker (--embedded)")
	fs.StringVar(&c.roles, "roles", "all", "comma-separated roles to run: all, or any of "+strings.Join(allRoles, ", "))
	fs.StringVar(&c.broker, "broker", "dry-run", "broker that executes hedges: dry-run, alpaca or schwab")
	c.brokers.register(fs)
	c.key.register(fs)
	fs.StringVar(&c.fractional, "fractional", "", "hedge fractional shares (default: true for alpaca, false otherwise)")
	fs.StringVar(&c.thresholdShares, "threshold-shares", "", "hedge when |net| reaches this many shares (default 1)")
	fs.StringVar(&c.thresholdDollars, "threshold-dollars", "", "hedge when |net| x last price reaches this many dollars")
	fs.StringVar(&c.dryRunLedger, "dry-run-ledger", "", "JSONL ledger of every order the dry-run broker accepted (default: <state-dir>/dry-run-ledger.jsonl)")
	fs.StringVar(&c.dryRunPrice, "dry-run-price", "last", "dry-run fill price: last (the on-chain reference price) or a fixed decimal")
	fs.DurationVar(&c.dryRunFillDelay, "dry-run-fill-delay", 0, "dry-run: time from acceptance to fill")
	fs.Float64Var(&c.dryRunFailRate, "dry-run-failure-rate", 0, "dry-run: fraction of orders rejected (deterministic per order)")
	fs.StringVar(&c.dryRunClock, "dry-run-clock", "auto", "dry-run: time orders are accepted and filled at: event (the time of the event that placed the order), wall, or auto (event for events over a day old, i.e. replayed history)")
	fs.DurationVar(&c.pollInterval, "poll-interval", time.Second, "how often in-flight broker orders are polled")
	fs.DurationVar(&c.staleAfter, "stale-after", 10*time.Minute, "fail an order with no broker update for this long")
	fs.IntVar(&c.commandBacklog, "command-backlog", 1000, "fills a position.commands partition may hold unprocessed before the trade manager waits (order outcomes queue behind at most this many)")
	fs.DurationVar(&c.notPendingGrace, "not-pending-grace", 30*time.Second, "fail (never place) an order its position has not had pending for this long")
	fs.BoolVar(&c.fastGroups, "fast-groups", false, "short consumer-group timeouts (tests, demos; not for production)")
	fs.DurationVar(&c.producerLinger, "producer-linger", 0, "how long the stages' producers wait to batch records (0: send as soon as the previous request is answered; a hedge crosses six stages)")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.logFormat, "log-format", "text", "text (key=value) or json (one object a line)")
	fs.StringVar(&c.pprof, "pprof", "", "serve net/http/pprof on this address (e.g. 127.0.0.1:6060)")
	fs.StringVar(&c.metricsListen, "metrics-listen", "", "serve Prometheus /metrics and /healthz on this address (e.g. 127.0.0.1:9464; default off; see docs/metrics.md)")
	c.ch.register(fs, "")
	c.chain.register(fs, "chain-")
	fs.IntVar(&c.embeddedCHPort, "embedded-clickhouse-port", 9000, "with --embedded and no --clickhouse: native port of the embedded ClickHouse")
	fs.StringVar(&c.clickhouseLib, "clickhouse-lib", "", "path of libchdb.so for the embedded ClickHouse (default: HEDGELINE_CLICKHOUSE_LIB, the cache, or a verified download)")
}

// stackConfig is the validated, typed form of runConfig: every problem is
// reported, naming its flag.
func (c runConfig) stackConfig() (stack.Config, error) {
	errs := c.kafka.validate()
	k, secErr := c.kafka.cluster() // its problems are among errs
	embeddedTLS, err := c.embeddedTLS.Load()
	if err != nil {
		errs = append(errs, err)
	}
	switch {
	case embeddedTLS != nil && !c.embedded:
		errs = append(errs, errors.New("--embedded-tls-*: only with --embedded"))
	case c.embedded && err == nil && secErr == nil && (embeddedTLS == nil) != (k.Security.TLS() == nil):
		errs = append(errs, errors.New("--embedded-tls-cert-file and --kafka-tls*: the embedded broker serves TLS exactly when the pipeline's clients use it; give both or neither"))
	}
	s := stack.Config{
		Kafka: k, Partitions: int32(c.kafka.partitions), Replication: int16(c.kafka.replication),
		StateDir: c.stateDir,
		Embedded: stack.Embedded{Kafka: c.embedded, Listen: c.embeddedListen, ClickHousePort: c.embeddedCHPort, ClickHouseLib: c.clickhouseLib,
			TLS: embeddedTLS},
		Roles:  stack.Roles{},
		DryRun: stack.DryRun{Ledger: c.dryRunLedger, FillDelay: c.dryRunFillDelay, FailureRate: c.dryRunFailRate},
		Alpaca: c.brokers.alpaca.stack(),
		Schwab: stack.Schwab{App: c.brokers.schwab.app(), AccountIndex: c.brokers.schwab.accountIndex,
			Now: schwabClock.now, Sleep: schwabClock.sleep},
		PollInterval: c.pollInterval, StaleAfter: c.staleAfter, NotPendingGrace: c.notPendingGrace,
		CommandBacklog: c.commandBacklog,
		Pprof:          c.pprof,
	}
	for _, r := range strings.Split(c.roles, ",") {
		r = strings.TrimSpace(r)
		switch {
		case r == "all":
			for _, a := range allRoles {
				s.Roles[a] = true
			}
		case r == "chain" && c.chain.rpcURL == "":
			errs = append(errs, errors.New("--roles chain: needs --chain-rpc-url (and --chain-orderbook, --chain-owner)"))
		case contains(allRoles, r):
			s.Roles[r] = true
		default:
			errs = append(errs, fmt.Errorf("--roles: unknown role %q (want all or %s)", r, strings.Join(allRoles, ", ")))
		}
	}
	if s.Roles["chain"] && c.chain.rpcURL != "" {
		ch, err := c.chain.config("chain-")
		if err != nil {
			errs = append(errs, err)
		}
		s.Chain = &ch
	}
	b, err := market.ParseBroker(c.broker)
	if err != nil {
		errs = append(errs, fmt.Errorf("--broker: %w", err))
	} else if err := c.brokers.validate(b); err != nil {
		errs = append(errs, err)
	}
	s.Execution, s.Threshold, err = positionFlags(b, c.fractional, c.thresholdShares, c.thresholdDollars)
	if err != nil {
		errs = append(errs, err)
	}
	if c.dryRunPrice == "last" || c.dryRunPrice == "" {
		s.DryRun.Price = dryrun.PriceLast
	} else if p, err := decimal.NewFromString(c.dryRunPrice); err != nil || !p.IsPositive() {
		errs = append(errs, fmt.Errorf("--dry-run-price: want last or a positive decimal, got %q", c.dryRunPrice))
	} else {
		s.DryRun.Price = dryrun.FixedPrice(p)
	}
	if clk, err := dryrun.ParseClock(c.dryRunClock); err != nil {
		errs = append(errs, fmt.Errorf("--dry-run-clock: %w", err))
	} else {
		s.DryRun.Clock = clk
	}
	if c.dryRunFailRate < 0 || c.dryRunFailRate > 1 {
		errs = append(errs, fmt.Errorf("--dry-run-failure-rate: want 0..1, got %v", c.dryRunFailRate))
	}
	if c.commandBacklog < 1 {
		errs = append(errs, fmt.Errorf("--command-backlog: want at least 1, got %d", c.commandBacklog))
	}
	if c.pollInterval <= 0 || c.staleAfter <= 0 || c.notPendingGrace <= 0 {
		errs = append(errs, errors.New("--poll-interval, --stale-after and --not-pending-grace must be positive"))
	}
	if c.stateDir == "" {
		errs = append(errs, errors.New("--state-dir: required"))
	}
	if s.ClickHouse, err = c.ch.config(); err != nil {
		errs = append(errs, err)
	}
	s.Tuning = runner.DefaultTuning()
	if c.fastGroups {
		s.Tuning = runner.TestTuning()
	}
	if c.producerLinger < 0 {
		errs = append(errs, fmt.Errorf("--producer-linger: want >= 0, got %s", c.producerLinger))
	}
	s.Tuning.FlushFrequency = c.producerLinger
	return s, errors.Join(errs...)
}

func parseThreshold(v string, mk func(decimal.Decimal) (market.Threshold, error)) (market.Threshold, error) {
	d, err := decimal.NewFromString(v)
	if err != nil {
		return market.Threshold{}, fmt.Errorf("%q is not a decimal", v)
	}
	return mk(d)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// positionFlags turns the flags that configure a new position (--broker,
// --fractional, --threshold-shares, --threshold-dollars) into its execution
// and threshold; run and migrate share them.
func positionFlags(b market.Broker, fractional, thresholdShares, thresholdDollars string) (market.Execution, market.Threshold, error) {
	var errs []error
	exec := market.DefaultExecution(b)
	switch fractional {
	case "":
	case "true", "false":
		exec.Fractional = fractional == "true"
	default:
		errs = append(errs, fmt.Errorf("--fractional: want true or false, got %q", fractional))
	}
	threshold := market.WholeShare()
	var err error
	switch {
	case thresholdShares != "" && thresholdDollars != "":
		errs = append(errs, errors.New("--threshold-shares and --threshold-dollars are exclusive"))
	case thresholdDollars != "":
		if threshold, err = parseThreshold(thresholdDollars, market.DollarThreshold); err != nil {
			errs = append(errs, fmt.Errorf("--threshold-dollars: %w", err))
		}
	case thresholdShares != "":
		if threshold, err = parseThreshold(thresholdShares, market.SharesThreshold); err != nil {
			errs = append(errs, fmt.Errorf("--threshold-shares: %w", err))
		}
	}
	return exec, threshold, errors.Join(errs...)
}
