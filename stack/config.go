// Package stack wires hedgeline's stages, sources, sinks and brokers into
// one running process: the composition root of `hedgeline run`, usable by
// any caller (the CLI, the bench, a test) with a typed Config instead of
// command-line flags.
package stack

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/hedgeline/hedgeline/brokers/alpaca"
	"github.com/hedgeline/hedgeline/brokers/dryrun"
	"github.com/hedgeline/hedgeline/brokers/schwab"
	"github.com/hedgeline/hedgeline/internal/kafkasec"
	"github.com/hedgeline/hedgeline/internal/metrics"
	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/brokerauth"
	"github.com/hedgeline/hedgeline/processors/runner"
	"github.com/hedgeline/hedgeline/sinks"
	"github.com/hedgeline/hedgeline/sources/chain"
)

// AllRoles are the roles a process can run.
var AllRoles = []string{"onchain-trade", "position", "offchain-order", "broker-auth", "trade-manager", "order-manager", "pnl", "sinks", "chain"}

// Roles is the set of roles a process runs.
type Roles map[string]bool

// Config is everything a stack runs with. Zero durations and counts are
// not defaulted: a caller states them (the CLI's flags carry the defaults).
type Config struct {
	// Kafka is the cluster: its seeds (replaced by the embedded broker's
	// address) and the TLS and SASL every client of the stack uses.
	Kafka       kafkasec.Cluster
	Partitions  int32  // of every topic: goka copartitions
	Replication int16  // of created topics
	StateDir    string // goka tables, the embedded engines' data, journals
	Embedded    Embedded
	Roles       Roles

	Threshold market.Threshold
	Execution market.Execution // Broker names the broker that executes hedges
	DryRun    DryRun
	Alpaca    Alpaca
	Schwab    Schwab
	// EncryptionKey encrypts broker tokens (the broker-auth role, Schwab);
	// zero: none, and the broker-auth role must not be asked for.
	EncryptionKey brokerauth.Key

	PollInterval    time.Duration // in-flight broker orders are polled this often
	StaleAfter      time.Duration // an order with no broker update for this long fails
	NotPendingGrace time.Duration // an order its position has not had pending this long fails
	CommandBacklog  int           // position.commands records a partition may hold unprocessed
	Tuning          runner.Tuning

	ClickHouse sinks.Config // the sinks role's views; Addr "" projects none
	Chain      *Chain       // the chain role's source; nil: the role logs that it does not run
	Pprof      string       // serve http.DefaultServeMux here (the binary imports net/http/pprof); "": off
	// Metrics, if set, is fed by the stages, projectors and broker clients,
	// and told when the stack is ready; the caller serves it. nil: none.
	Metrics *metrics.Metrics
	Logger  *slog.Logger // nil: slog.Default()
}

// Embedded are the engines the stack may start in-process.
type Embedded struct {
	Kafka          bool   // start the Kafka-protocol broker, under StateDir/kafka
	Listen         string // its listen address
	ClickHousePort int    // with Kafka and no ClickHouse.Addr: the embedded ClickHouse's native port
	ClickHouseLib  string // libchdb.so ("": the default lookup)
	// TLS is the embedded broker's server side (its certificate; client
	// certificates required with ClientCAs), for clients that connect with
	// Kafka.Security's TLS; nil: plaintext. The broker accepts the SASL
	// user of Kafka.Security, if any.
	TLS *tls.Config
}

// DryRun configures the dry-run broker.
type DryRun struct {
	Ledger      string // JSONL ledger of accepted orders ("": StateDir/dry-run-ledger.jsonl)
	Price       dryrun.Price
	FillDelay   time.Duration
	FailureRate float64 // 0..1
	Clock       dryrun.Clock
}

// Alpaca configures the Alpaca broker.
type Alpaca struct {
	Mode      alpaca.Mode
	KeyID     string
	SecretKey string
	URL       string // a stand-in's Trading API base URL instead of the mode's
}

// BaseURL is URL, or the mode's Trading API.
func (a Alpaca) BaseURL() string {
	if a.URL != "" {
		return a.URL
	}
	return a.Mode.BaseURL()
}

// Schwab configures the Schwab broker; its tokens come from the login the
// broker-auth aggregate stores.
type Schwab struct {
	App          schwab.App
	AccountIndex int
	// Now and Sleep are the broker's clock (nil: the wall clock); tests
	// replace them.
	Now   func() time.Time
	Sleep func(context.Context, time.Duration) error
}

// Chain configures the chain source.
type Chain struct {
	RPCURL string
	// Source is the source's configuration; Client, Kafka, Logger and
	// Progress are set by OpenChain.
	Source chain.Config
}

// Validate reports every problem of c, joined, each naming its field.
func (c Config) Validate() error {
	var errs []error
	if len(c.Kafka.Seeds) == 0 && !c.Embedded.Kafka {
		errs = append(errs, errors.New("config Kafka.Seeds: no address given"))
	}
	if c.Embedded.Kafka && (c.Embedded.TLS == nil) != (c.Kafka.Security.TLS() == nil) {
		errs = append(errs, errors.New("config Embedded.TLS: the embedded broker serves TLS exactly when its clients use it (Kafka.Security)"))
	}
	if c.Partitions < 1 || c.Partitions > 1024 {
		errs = append(errs, fmt.Errorf("config Partitions: want 1..1024, got %d", c.Partitions))
	}
	if c.Replication < 1 {
		errs = append(errs, fmt.Errorf("config Replication: want at least 1, got %d", c.Replication))
	}
	if c.StateDir == "" {
		errs = append(errs, errors.New("config StateDir: required"))
	}
	for r := range c.Roles {
		if !slices.Contains(AllRoles, r) {
			errs = append(errs, fmt.Errorf("config Roles: unknown role %q", r))
		}
	}
	if c.Roles["order-manager"] {
		switch c.Execution.Broker {
		case market.DryRun, market.Alpaca, market.Schwab:
		default:
			errs = append(errs, fmt.Errorf("config Execution.Broker: %s cannot execute hedges", c.Execution.Broker))
		}
	}
	switch c.Execution.Broker {
	case market.Alpaca:
		if _, err := alpaca.ParseMode(string(c.Alpaca.Mode)); err != nil {
			errs = append(errs, fmt.Errorf("config Alpaca.Mode: %w", err))
		}
		if c.Alpaca.KeyID == "" || c.Alpaca.SecretKey == "" {
			errs = append(errs, errors.New("config Alpaca: KeyID and SecretKey are required"))
		}
	case market.Schwab:
		if c.Schwab.App.Key == "" || c.Schwab.App.Secret == "" || c.Schwab.App.RedirectURI == "" {
			errs = append(errs, errors.New("config Schwab.App: Key, Secret and RedirectURI are required"))
		}
		if c.Schwab.AccountIndex < 0 {
			errs = append(errs, fmt.Errorf("config Schwab.AccountIndex: want 0 or more, got %d", c.Schwab.AccountIndex))
		}
	}
	if c.EncryptionKey.IsZero() && c.Roles["broker-auth"] {
		errs = append(errs, errors.New("config Roles: broker-auth needs EncryptionKey"))
	}
	if c.EncryptionKey.IsZero() && c.Execution.Broker == market.Schwab && c.Roles["order-manager"] {
		errs = append(errs, errors.New("config Execution.Broker schwab needs EncryptionKey"))
	}
	if c.DryRun.FailureRate < 0 || c.DryRun.FailureRate > 1 {
		errs = append(errs, fmt.Errorf("config DryRun.FailureRate: want 0..1, got %v", c.DryRun.FailureRate))
	}
	if c.CommandBacklog < 1 {
		errs = append(errs, fmt.Errorf("config CommandBacklog: want at least 1, got %d", c.CommandBacklog))
	}
	if c.PollInterval <= 0 || c.StaleAfter <= 0 || c.NotPendingGrace <= 0 {
		errs = append(errs, errors.New("config PollInterval, StaleAfter and NotPendingGrace must be positive"))
	}
	if c.Tuning.FlushFrequency < 0 {
		errs = append(errs, fmt.Errorf("config Tuning.FlushFrequency: want >= 0, got %s", c.Tuning.FlushFrequency))
	}
	return errors.Join(errs...)
}
