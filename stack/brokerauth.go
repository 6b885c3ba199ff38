package stack

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hedgeline/hedgeline/brokers/schwab"
	"github.com/hedgeline/hedgeline/internal/kafkasec"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/hedgeline/hedgeline/processors/brokerauth"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/twmb/franz-go/pkg/kgo"
)

// AuthState replays broker-auth.events into the BrokerAuth lifecycle.
// Replaying needs no key (events hold only ciphertext).
func AuthState(ctx context.Context, k kafkasec.Cluster) (aggregate.Lifecycle[brokerauth.State], error) {
	var a authReplay
	err := topics.ReadToEnd(ctx, k.Opts(), topics.BrokerAuthEvents, a.add)
	if errors.Is(err, topics.ErrNoTopic) {
		seeds := strings.Join(k.Seeds, ",")
		return a.l, fmt.Errorf("topic %s does not exist on %s ('hedgeline topics --brokers %s' lists the topics)",
			topics.BrokerAuthEvents, seeds, seeds)
	}
	return a.l, err
}

// authReplay folds broker-auth events, in order, into the lifecycle.
type authReplay struct {
	l aggregate.Lifecycle[brokerauth.State]
}

var authDef = brokerauth.NewDefinition(brokerauth.Key{})

func (a *authReplay) add(r *kgo.Record) error {
	env, err := topics.DecodeEnvelope(r.Value)
	if err != nil {
		return fmt.Errorf("%s@%d: %w", r.Topic, r.Offset, err)
	}
	if env.AggregateID != brokerauth.ID || env.Sequence <= a.l.Version {
		return nil // another broker's, or a re-published copy
	}
	e, err := brokerauth.Events.Decode(env.EventType, env.Payload)
	if err != nil {
		return fmt.Errorf("%s@%d: %w", r.Topic, r.Offset, err)
	}
	a.l = authDef.Evolve(a.l, e)
	return nil
}

// AuthTokens decrypts the tokens of an authenticated lifecycle.
func AuthTokens(l aggregate.Lifecycle[brokerauth.State], key brokerauth.Key) (schwab.Tokens, error) {
	if err := l.Check(); err != nil {
		if errors.Is(err, aggregate.ErrUninitialized) {
			return schwab.Tokens{}, errors.New("schwab is not authenticated: run `hedgeline broker-auth login` (it needs the broker-auth stage running with the same key, e.g. `hedgeline run --roles broker-auth`)")
		}
		return schwab.Tokens{}, fmt.Errorf("broker-auth: %w", err)
	}
	access, err := l.State.AccessToken(key)
	if err != nil {
		return schwab.Tokens{}, fmt.Errorf("stored schwab access token: %w (is this the key the login used?)", err)
	}
	refresh, err := l.State.RefreshToken(key)
	if err != nil {
		return schwab.Tokens{}, fmt.Errorf("stored schwab refresh token: %w (is this the key the login used?)", err)
	}
	return schwab.Tokens{
		Access: brokerauth.Token(access), AccessFetchedAt: l.State.AccessTokenFetchedAt,
		Refresh: brokerauth.Token(refresh), RefreshFetchedAt: l.State.RefreshTokenFetchedAt,
	}, nil
}

// AuthCommand is a broker-auth command record issued at at.
func AuthCommand(c aggregate.Command, commandID string, at time.Time) (*kgo.Record, error) {
	return topics.CommandRecord(topics.CommandEnvelope{
		AggregateType: brokerauth.AggregateType, AggregateID: brokerauth.ID, CommandID: commandID,
		IssuedAt: at.UTC(), CorrelationID: commandID, CausationID: commandID,
	}, c, brokerauth.ID)
}

// refreshCommand encrypts a refreshed access token for RefreshAccessToken;
// its id is the refresh time, so a retried produce is the same command.
func refreshCommand(key brokerauth.Key, t schwab.Tokens) (*kgo.Record, error) {
	id := "refresh-" + t.AccessFetchedAt.UTC().Format(time.RFC3339Nano)
	access, err := brokerauth.Encrypt(key, id, brokerauth.FieldAccess, string(t.Access))
	if err != nil {
		return nil, fmt.Errorf("encrypt the access token: %w", err)
	}
	return AuthCommand(brokerauth.RefreshAccessToken{NewAccessToken: access}, id, t.AccessFetchedAt)
}
