package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/hedgeline/hedgeline/brokers/schwab"
	"github.com/hedgeline/hedgeline/internal/kafkasec"
	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/hedgeline/hedgeline/processors/brokerauth"
	"github.com/hedgeline/hedgeline/stack"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func init() {
	register("broker-auth", "log in at the broker (Schwab OAuth) and show the stored login: broker-auth login|status", runBrokerAuthCmd).
		withArgs("login|status",
			"login: prints Schwab's login page, reads back the redirected URL (or --code), stores the tokens encrypted",
			"status: whether a login is stored, when its tokens were fetched and expire (never the tokens)")
}

// keyEnv holds the encryption key as hex. It is read from the environment
// only, never from a flag: a command line is visible to every user of the
// machine (ps, /proc).
const keyEnv = "HEDGELINE_ENCRYPTION_KEY"

// errNoKey names both ways to give the key.
var errNoKey = errors.New("no encryption key: give --encryption-key-file PATH (a file holding 64 hex digits) or set " + keyEnv + " (64 hex digits)")

// keyFlags configure the broker-auth encryption key.
type keyFlags struct{ file string }

func (k *keyFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&k.file, "encryption-key-file", "", "file holding the 64-hex-digit AES-256 key that encrypts broker tokens (or set "+keyEnv+")")
}

// load returns the key from the file, else from the environment; the zero
// key when neither is given. Errors never quote the key.
func (k keyFlags) load() (brokerauth.Key, error) {
	if k.file != "" {
		b, err := os.ReadFile(k.file)
		if err != nil {
			return brokerauth.Key{}, fmt.Errorf("--encryption-key-file: %w", err)
		}
		key, err := brokerauth.ParseKey(string(b))
		if err != nil {
			return brokerauth.Key{}, fmt.Errorf("--encryption-key-file %s: %w", k.file, err)
		}
		return key, nil
	}
	if v, ok := os.LookupEnv(keyEnv); ok {
		key, err := brokerauth.ParseKey(v)
		if err != nil {
			return brokerauth.Key{}, fmt.Errorf("%s: %w", keyEnv, err)
		}
		return key, nil
	}
	return brokerauth.Key{}, nil
}

// brokerAuthKey loads the key for the broker-auth role. Without one the
// role is dropped from sc.Roles with an info line, unless the run trades
// at Schwab, which needs it.
func brokerAuthKey(cfg runConfig, sc stack.Config, log *slog.Logger) (brokerauth.Key, error) {
	key, err := cfg.key.load()
	if err != nil {
		return key, err
	}
	switch {
	case !key.IsZero():
	case sc.Execution.Broker == market.Schwab && (sc.Roles["order-manager"] || sc.Roles["broker-auth"]):
		return key, fmt.Errorf("--broker schwab: %w", errNoKey)
	case sc.Roles["broker-auth"]:
		delete(sc.Roles, "broker-auth")
		log.Info("no encryption key (--encryption-key-file or " + keyEnv + "): the broker-auth role does not run")
	}
	return key, nil
}

// storeTokensCommand encrypts t for a StoreTokens whose command id is
// derived from the login's authorization code: the same login produced
// twice is one command.
func storeTokensCommand(key brokerauth.Key, code string, t schwab.Tokens) (*kgo.Record, string, error) {
	sum := sha256.Sum256([]byte("hedgeline broker-auth login\x00" + code))
	id := "login-" + hex.EncodeToString(sum[:16])
	access, err := brokerauth.Encrypt(key, id, brokerauth.FieldAccess, string(t.Access))
	if err != nil {
		return nil, "", fmt.Errorf("encrypt the access token: %w", err)
	}
	refresh, err := brokerauth.Encrypt(key, id, brokerauth.FieldRefresh, string(t.Refresh))
	if err != nil {
		return nil, "", fmt.Errorf("encrypt the refresh token: %w", err)
	}
	rec, err := stack.AuthCommand(brokerauth.StoreTokens{AccessToken: access, RefreshToken: refresh}, id, t.AccessFetchedAt)
	return rec, id, err
}

// authAnswer is the aggregate's answer to one command.
type authAnswer struct {
	event  *topics.EventEnvelope
	reason string // the rejection's reason
}

// awaitAuthAnswer produces rec and waits for the event or rejection of
// commandID, reading both topics from their ends before the produce.
func awaitAuthAnswer(ctx context.Context, k kafkasec.Cluster, rec *kgo.Record, commandID string) (authAnswer, error) {
	cl, err := kgo.NewClient(topics.ClientOpts(k)...)
	if err != nil {
		return authAnswer{}, err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topics.BrokerAuthEvents, topics.BrokerAuthRejections)
	if err != nil {
		return authAnswer{}, fmt.Errorf("end offsets of the broker-auth topics: %w", err)
	}
	from := map[string]map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			if from[o.Topic] == nil {
				from[o.Topic] = map[int32]kgo.Offset{}
			}
			from[o.Topic][o.Partition] = kgo.NewOffset().At(o.Offset)
		}
	})
	if len(from) != 2 {
		return authAnswer{}, fmt.Errorf("topics %s and %s are missing on %s", topics.BrokerAuthEvents, topics.BrokerAuthRejections, strings.Join(k.Seeds, ","))
	}
	rd, err := kgo.NewClient(k.Opts(kgo.ConsumePartitions(from))...)
	if err != nil {
		return authAnswer{}, err
	}
	defer rd.Close()
	if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return authAnswer{}, fmt.Errorf("produce to %s: %w", rec.Topic, err)
	}
	for {
		fs := rd.PollFetches(ctx)
		if ctx.Err() != nil {
			return authAnswer{}, fmt.Errorf("no answer from the broker-auth stage (is `hedgeline run` running with the broker-auth role and the same key?): %w", ctx.Err())
		}
		for _, e := range fs.Errors() {
			return authAnswer{}, fmt.Errorf("read %s/%d: %w", e.Topic, e.Partition, e.Err)
		}
		var ans *authAnswer
		fs.EachRecord(func(r *kgo.Record) {
			if ans != nil {
				return
			}
			switch r.Topic {
			case topics.BrokerAuthEvents:
				if env, err := topics.DecodeEnvelope(r.Value); err == nil && env.CommandID == commandID {
					ans = &authAnswer{event: &env}
				}
			case topics.BrokerAuthRejections:
				rej, err := topics.DecodeRejection(r.Value)
				if err != nil {
					return
				}
				if c, err := topics.DecodeCommand(rej.Original()); err == nil && c.CommandID == commandID {
					ans = &authAnswer{reason: rej.Reason}
				}
			}
		})
		if ans != nil {
			return *ans, nil
		}
	}
}

func runBrokerAuthCmd(ctx context.Context, args []string, stdout io.Writer) error {
	sub := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	switch sub {
	case "login":
		return brokerAuthLogin(ctx, args, os.Stdin, stdout)
	case "status":
		return brokerAuthStatus(ctx, args, stdout)
	case "":
		fs := newFlagSet("broker-auth", os.Stderr)
		if err := parse(fs, args); err != nil {
			return err
		}
		return usageErrorf("want a subcommand: login or status")
	}
	return usageErrorf("unknown subcommand %q: want login or status", sub)
}

// loginResult is what login prints (--json): never a token.
type loginResult struct {
	Status                string    `json:"status"` // stored
	CommandID             string    `json:"command_id"`
	AccessTokenFetchedAt  time.Time `json:"access_token_fetched_at"`
	AccessTokenExpiresAt  time.Time `json:"access_token_expires_at"`
	RefreshTokenFetchedAt time.Time `json:"refresh_token_fetched_at"`
	RefreshTokenExpiresAt time.Time `json:"refresh_token_expires_at"`
}

func brokerAuthLogin(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := newFlagSet("broker-auth login", os.Stderr)
	var k kafkaFlags
	k.register(fs)
	var sf schwabFlags
	sf.register(fs)
	var kf keyFlags
	kf.register(fs)
	code := fs.String("code", "", "the authorization code (or the whole redirected URL); without it the login page is printed and the redirected URL is read from stdin")
	timeout := fs.Duration("timeout", time.Minute, "how long to wait for the broker-auth stage to store the tokens")
	asJSON := fs.Bool("json", false, "print the outcome as JSON")
	var lf logFlags
	lf.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := sf.validate(); err != nil {
		return err
	}
	kc, err := k.cluster()
	if err != nil {
		return err
	}
	key, err := kf.load()
	if err != nil {
		return err
	}
	if key.IsZero() {
		return errNoKey
	}
	log, err := lf.logger()
	if err != nil {
		return err
	}
	app := sf.app()
	pasted := *code
	if pasted == "" {
		fmt.Fprintf(stdout, "Open this page, log in to Schwab and approve the app:\n\n  %s\n\nThen paste the address the browser was sent to (or its code parameter) and press Enter:\n", app.AuthorizeURL())
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && line == "" {
			return fmt.Errorf("read the redirected URL from stdin: %w", err)
		}
		pasted = line
	}
	authCode, err := schwab.ParseCode(pasted)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	adm, err := kgo.NewClient(kc.Opts()...)
	if err != nil {
		return err
	}
	defer adm.Close()
	if err := ensureTopics(ctx, kadm.NewClient(adm), k, log); err != nil {
		return err
	}
	tokens, err := (schwab.OAuth{App: app, HTTP: &http.Client{Timeout: 30 * time.Second}}).Exchange(ctx, authCode)
	if err != nil {
		return err
	}
	rec, id, err := storeTokensCommand(key, authCode, tokens)
	if err != nil {
		return err
	}
	ans, err := awaitAuthAnswer(ctx, kc, rec, id)
	if err != nil {
		return err
	}
	if ans.event == nil {
		return fmt.Errorf("the broker-auth stage refused the login: %s", ans.reason)
	}
	st := brokerauth.State{AccessTokenFetchedAt: tokens.AccessFetchedAt.UTC(), RefreshTokenFetchedAt: tokens.RefreshFetchedAt.UTC()}
	res := loginResult{
		Status: "stored", CommandID: id,
		AccessTokenFetchedAt: st.AccessTokenFetchedAt, AccessTokenExpiresAt: st.AccessTokenExpiresAt(),
		RefreshTokenFetchedAt: st.RefreshTokenFetchedAt, RefreshTokenExpiresAt: st.RefreshTokenExpiresAt(),
	}
	log.Info("schwab login stored", "command_id", id, "refresh_token_expires_at", res.RefreshTokenExpiresAt)
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	_, err = fmt.Fprintf(stdout, "Schwab login stored (%s). The access token is refreshed automatically by `hedgeline run --broker schwab`;\nthe refresh token expires at %s: log in again before then.\n",
		eventName(ans.event), res.RefreshTokenExpiresAt.Format(time.RFC3339))
	return err
}

func eventName(e *topics.EventEnvelope) string {
	return fmt.Sprintf("%s #%d", e.EventType, e.Sequence)
}

// authStatus is what status prints: times only, never a token.
type authStatus struct {
	Authenticated         bool       `json:"authenticated"`
	Failure               string     `json:"failure,omitempty"`
	AccessTokenFetchedAt  *time.Time `json:"access_token_fetched_at,omitempty"`
	AccessTokenExpiresAt  *time.Time `json:"access_token_expires_at,omitempty"`
	RefreshTokenFetchedAt *time.Time `json:"refresh_token_fetched_at,omitempty"`
	RefreshTokenExpiresAt *time.Time `json:"refresh_token_expires_at,omitempty"`
	RefreshTokenExpired   bool       `json:"refresh_token_expired"`
}

func brokerAuthStatus(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("broker-auth status", os.Stderr)
	var k kafkaFlags
	k.register(fs)
	asJSON := fs.Bool("json", false, "print as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	kc, err := k.cluster()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	l, err := stack.AuthState(ctx, kc)
	if err != nil {
		return err
	}
	s := authStatus{Authenticated: l.Status == aggregate.Live, Failure: l.Failure}
	if s.Authenticated {
		st := l.State
		at, aexp, rt, rexp := st.AccessTokenFetchedAt.UTC(), st.AccessTokenExpiresAt().UTC(), st.RefreshTokenFetchedAt.UTC(), st.RefreshTokenExpiresAt().UTC()
		s.AccessTokenFetchedAt, s.AccessTokenExpiresAt, s.RefreshTokenFetchedAt, s.RefreshTokenExpiresAt = &at, &aexp, &rt, &rexp
		s.RefreshTokenExpired = st.RefreshExpired(time.Now())
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(s)
	}
	switch {
	case s.Failure != "":
		_, err = fmt.Fprintf(stdout, "schwab: broker-auth failed: %s\n", s.Failure)
	case !s.Authenticated:
		_, err = fmt.Fprintln(stdout, "schwab: not authenticated (run `hedgeline broker-auth login`)")
	default:
		note := ""
		if s.RefreshTokenExpired {
			note = " (expired: run `hedgeline broker-auth login`)"
		}
		_, err = fmt.Fprintf(stdout, "schwab: authenticated\n  access token:  fetched %s, expires %s\n  refresh token: fetched %s, expires %s%s\n",
			s.AccessTokenFetchedAt.Format(time.RFC3339), s.AccessTokenExpiresAt.Format(time.RFC3339),
			s.RefreshTokenFetchedAt.Format(time.RFC3339), s.RefreshTokenExpiresAt.Format(time.RFC3339), note)
	}
	return err
}
