package stack

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/hedgeline/hedgeline/brokers/schwab"
	"github.com/hedgeline/hedgeline/internal/kafkasec"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/hedgeline/hedgeline/processors/brokerauth"
	"github.com/hedgeline/hedgeline/processors/runner"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/twmb/franz-go/pkg/kgo"
)

// openSchwab builds the Schwab broker from the login stored by the
// broker-auth aggregate. It refreshes the access token in the background
// (storing each through RefreshAccessToken) and follows
// broker-auth.events, so a new `hedgeline broker-auth login` is used
// without a restart.
func openSchwab(ctx context.Context, cfg Config, rc runner.Config, log *slog.Logger) (openedBroker, error) {
	key := cfg.EncryptionKey // Validate: not zero
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	l, err := AuthState(rctx, rc.Kafka)
	cancel()
	if err != nil {
		return openedBroker{}, fmt.Errorf("--broker schwab: read the stored login: %w", err)
	}
	tokens, err := AuthTokens(l, key)
	if err != nil {
		return openedBroker{}, fmt.Errorf("--broker schwab: %w", err)
	}
	if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
		return openedBroker{}, fmt.Errorf("--broker schwab: state dir: %w", err)
	}
	journal, err := schwab.OpenFileJournal(filepath.Join(cfg.StateDir, "schwab-journal.jsonl"))
	if err != nil {
		return openedBroker{}, fmt.Errorf("--broker schwab: %w", err)
	}
	producer, err := kgo.NewClient(topics.ClientOpts(rc.Kafka)...)
	if err != nil {
		journal.Close()
		return openedBroker{}, fmt.Errorf("--broker schwab: producer: %w", err)
	}
	b, err := schwab.New(schwab.Config{
		App: cfg.Schwab.App, Tokens: tokens, AccountIndex: cfg.Schwab.AccountIndex, Journal: journal,
		OnRefresh: func(ctx context.Context, t schwab.Tokens) error {
			rec, err := refreshCommand(key, t)
			if err != nil {
				return err
			}
			return producer.ProduceSync(ctx, rec).FirstErr()
		},
		HTTP: &http.Client{Timeout: 30 * time.Second, Transport: cfg.Metrics.BrokerTransport("schwab", nil)}, Now: cfg.Schwab.Now, Sleep: cfg.Schwab.Sleep, Log: log,
	})
	if err != nil {
		producer.Close()
		journal.Close()
		return openedBroker{}, fmt.Errorf("--broker schwab: %w", err)
	}
	log.Info("schwab broker ready", "access_token_fetched_at", tokens.AccessFetchedAt, "refresh_token_expires_at", tokens.RefreshFetchedAt.Add(brokerauth.RefreshTokenLifetime))
	watch := func(ctx context.Context) error { return watchLogins(ctx, rc.Kafka, key, b, log) }
	return openedBroker{
		Broker:     b,
		background: []func(context.Context) error{b.RunRefresh, watch},
		close:      func() { producer.Close(); journal.Close() },
	}, nil
}

// watchLogins follows broker-auth.events from the start and hands every
// newer login (or refreshed access token) to b. It never stops the run: a
// bad event is logged and the aggregate's state simply stays as it was.
func watchLogins(ctx context.Context, k kafkasec.Cluster, key brokerauth.Key, b *schwab.Broker, log *slog.Logger) error {
	cl, err := kgo.NewClient(k.Opts(kgo.ConsumeTopics(topics.BrokerAuthEvents),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		return fmt.Errorf("broker-auth watcher: %w", err)
	}
	defer cl.Close()
	var a authReplay
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fs.EachError(func(t string, p int32, err error) {
			log.Warn("broker-auth watcher: read failed; retrying", "topic", t, "partition", p, "err", err)
		})
		changed := false
		fs.EachRecord(func(r *kgo.Record) {
			before := a.l.Version
			if err := a.add(r); err != nil {
				log.Error("broker-auth watcher: undecodable event skipped", "err", err)
			}
			changed = changed || a.l.Version != before
		})
		if !changed || a.l.Status != aggregate.Live {
			continue
		}
		t, err := AuthTokens(a.l, key)
		if err != nil {
			log.Error("broker-auth watcher: stored tokens unusable", "err", err)
			continue
		}
		b.SetTokens(t)
	}
}
