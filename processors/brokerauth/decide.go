package brokerauth

import (
	"errors"
	"fmt"

	"github.com/hedgeline/hedgeline/processors/aggregate"
)

// Decide turns a command into events, encrypting tokens under key. It is
// deterministic: the same command id, command and time give the same bytes
// (see seal). Errors never contain a token or the key.
func Decide(key Key, l aggregate.Lifecycle[State], c aggregate.Command, m aggregate.Meta) ([]aggregate.Event, error) {
	switch {
	case m.At.IsZero():
		return nil, ErrMissingTime
	case m.CommandID == "":
		return nil, ErrMissingCommandID
	case key.IsZero():
		return nil, ErrNoKey
	}
	at := m.At.UTC()
	switch c := c.(type) {
	case StoreTokens:
		if l.Status == aggregate.Failed {
			return nil, l.Check()
		}
		if err := errors.Join(checkToken("access_token", c.AccessToken), checkToken("refresh_token", c.RefreshToken)); err != nil {
			return nil, err
		}
		access, err := seal(key, m.CommandID, "access", string(c.AccessToken))
		if err != nil {
			return nil, err
		}
		refresh, err := seal(key, m.CommandID, "refresh", string(c.RefreshToken))
		if err != nil {
			return nil, err
		}
		e := TokensStored{AccessToken: access, AccessTokenFetchedAt: at, RefreshToken: refresh, RefreshTokenFetchedAt: at}
		return emit(e, e.check())
	case RefreshAccessToken:
		if err := l.Check(); err != nil {
			if errors.Is(err, aggregate.ErrUninitialized) {
				return nil, ErrNotAuthenticated
			}
			return nil, err
		}
		if err := checkToken("new_access_token", c.NewAccessToken); err != nil {
			return nil, err
		}
		access, err := seal(key, m.CommandID, "access", string(c.NewAccessToken))
		if err != nil {
			return nil, err
		}
		e := AccessTokenRefreshed{AccessToken: access, RefreshedAt: at}
		return emit(e, e.check())
	case Migrate:
		if err := l.CheckGenesis(); err != nil {
			if errors.Is(err, aggregate.ErrAlreadyInitialized) {
				return nil, ErrAlreadyAuthenticated
			}
			return nil, err
		}
		e := TokensStored{
			AccessToken: c.AccessToken, AccessTokenFetchedAt: c.AccessTokenFetchedAt.UTC(),
			RefreshToken: c.RefreshToken, RefreshTokenFetchedAt: c.RefreshTokenFetchedAt.UTC(),
		}
		if err := e.check(); err != nil {
			return nil, err
		}
		// Refuse tokens the configured key cannot open (a migration run
		// with the wrong ENCRYPTION_KEY) instead of storing dead bytes.
		if _, err := Decrypt(key, c.AccessToken); err != nil {
			return nil, fieldErr("access_token", err)
		}
		if _, err := Decrypt(key, c.RefreshToken); err != nil {
			return nil, fieldErr("refresh_token", err)
		}
		return []aggregate.Event{e}, nil
	}
	return nil, fmt.Errorf("%w %T", ErrUnknownCommand, c)
}

// emit returns e unless it would fail the aggregate in Evolve.
func emit(e aggregate.Event, err error) ([]aggregate.Event, error) {
	if err != nil {
		return nil, err
	}
	return []aggregate.Event{e}, nil
}
