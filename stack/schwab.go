package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/hedgeline/hedgeline/brokers/schwab"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/hedgeline/hedgeline/processors/brokerauth"
	"github.com/hedgeline/hedgeline/processors/runner"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/twmb/franz-go/pkg/kgo"
)

// schwabFlags configure the Schwab app, for `broker-auth login` and `run
// --broker schwab` alike (one registration, the same names).
type schwabFlags struct {
	appKey, appSecret, callbackURL, url string
	accountIndex                        int
}

func (f *schwabFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.appKey, "schwab-app-key", "", "Schwab: the app key of your app at developer.schwab.com")
	fs.StringVar(&f.appSecret, "schwab-app-secret", "", "Schwab: the app secret (prefer HEDGELINE_SCHWAB_APP_SECRET: a command line is visible to other users)")
	fs.StringVar(&f.callbackURL, "schwab-callback-url", "", "Schwab: the app's registered callback URL (e.g. https://127.0.0.1:8182)")
	fs.StringVar(&f.url, "schwab-url", schwab.DefaultBaseURL, "Schwab: API base address (a test server's, for tests)")
	fs.IntVar(&f.accountIndex, "schwab-account-index", 0, "Schwab: which entry of the login's accounts to trade in (run)")
}

func (f *schwabFlags) validate() error {
	var errs []error
	if f.appKey == "" {
		errs = append(errs, errRequired("--schwab-app-key"))
	}
	if f.appSecret == "" {
		errs = append(errs, errRequired("--schwab-app-secret (or HEDGELINE_SCHWAB_APP_SECRET)"))
	}
	if f.callbackURL == "" {
		errs = append(errs, errRequired("--schwab-callback-url"))
	}
	if f.accountIndex < 0 {
		errs = append(errs, usageErrorf("--schwab-account-index: want 0 or more, got %d", f.accountIndex))
	}
	return errors.Join(errs...)
}

func (f *schwabFlags) app() schwab.App {
	return schwab.App{Key: f.appKey, Secret: brokerauth.Token(f.appSecret), RedirectURI: f.callbackURL, BaseURL: f.url}
}

// schwabClock is the clock of the Schwab broker and its refresh loop;
// tests replace it.
var schwabClock = struct {
	now   func() time.Time
	sleep func(context.Context, time.Duration) error
}{now: time.Now}

// openSchwab builds the Schwab broker from the login stored by the
// broker-auth aggregate. It refreshes the access token in the background
// (storing each through RefreshAccessToken) and follows
// broker-auth.events, so a new `hedgeline broker-auth login` is used
// without a restart.
func openSchwab(ctx context.Context, cfg runConfig, rc runner.Config, log *slog.Logger) (openedBroker, error) {
	key, err := cfg.key.load()
	if err != nil {
		return openedBroker{}, err
	}
	if key.IsZero() {
		return openedBroker{}, fmt.Errorf("--broker schwab: %w", errNoKey)
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	l, err := authState(rctx, rc.Brokers)
	cancel()
	if err != nil {
		return openedBroker{}, fmt.Errorf("--broker schwab: read the stored login: %w", err)
	}
	tokens, err := authTokens(l, key)
	if err != nil {
		return openedBroker{}, fmt.Errorf("--broker schwab: %w", err)
	}
	if err := os.MkdirAll(cfg.stateDir, 0o755); err != nil {
		return openedBroker{}, fmt.Errorf("--broker schwab: state dir: %w", err)
	}
	journal, err := schwab.OpenFileJournal(filepath.Join(cfg.stateDir, "schwab-journal.jsonl"))
	if err != nil {
		return openedBroker{}, fmt.Errorf("--broker schwab: %w", err)
	}
	producer, err := kgo.NewClient(topics.ClientOpts(rc.Brokers)...)
	if err != nil {
		journal.Close()
		return openedBroker{}, fmt.Errorf("--broker schwab: producer: %w", err)
	}
	b, err := schwab.New(schwab.Config{
		App: cfg.brokers.schwab.app(), Tokens: tokens, AccountIndex: cfg.brokers.schwab.accountIndex, Journal: journal,
		OnRefresh: func(ctx context.Context, t schwab.Tokens) error {
			rec, err := refreshCommand(key, t)
			if err != nil {
				return err
			}
			return producer.ProduceSync(ctx, rec).FirstErr()
		},
		HTTP: &http.Client{Timeout: 30 * time.Second}, Now: schwabClock.now, Sleep: schwabClock.sleep, Log: log,
	})
	if err != nil {
		producer.Close()
		journal.Close()
		return openedBroker{}, fmt.Errorf("--broker schwab: %w", err)
	}
	log.Info("schwab broker ready", "access_token_fetched_at", tokens.AccessFetchedAt, "refresh_token_expires_at", tokens.RefreshFetchedAt.Add(brokerauth.RefreshTokenLifetime))
	watch := func(ctx context.Context) error { return watchLogins(ctx, rc.Brokers, key, b, log) }
	return openedBroker{
		Broker:     b,
		background: []func(context.Context) error{b.RunRefresh, watch},
		close:      func() { producer.Close(); journal.Close() },
	}, nil
}

// watchLogins follows broker-auth.events from the start and hands every
// newer login (or refreshed access token) to b. It never stops the run: a
// bad event is logged and the aggregate's state simply stays as it was.
func watchLogins(ctx context.Context, brokers []string, key brokerauth.Key, b *schwab.Broker, log *slog.Logger) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topics.BrokerAuthEvents),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
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
		t, err := authTokens(a.l, key)
		if err != nil {
			log.Error("broker-auth watcher: stored tokens unusable", "err", err)
			continue
		}
		b.SetTokens(t)
	}
}
