package brokerauth

import (
	"errors"
	"fmt"

	"github.com/hedgeline/hedgeline/processors/aggregate"
)

// Decide turns a command into events. Commands carry tokens already
// encrypted; Decide checks that each opens under key (so a producer with
// the wrong key is refused, not stored as dead bytes) and stores the
// ciphertext as given, so it is deterministic. Errors name the field,
// never a token or the key.
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
		if err := errors.Join(opens(key, "access_token", c.AccessToken), opens(key, "refresh_token", c.RefreshToken)); err != nil {
			return nil, err
		}
		e := TokensStored{AccessToken: c.AccessToken, AccessTokenFetchedAt: at, RefreshToken: c.RefreshToken, RefreshTokenFetchedAt: at}
		return emit(e, e.check())
	case RefreshAccessToken:
		if err := l.Check(); err != nil {
			if errors.Is(err, aggregate.ErrUninitialized) {
				return nil, ErrNotAuthenticated
			}
			return nil, err
		}
		if err := opens(key, "new_access_token", c.NewAccessToken); err != nil {
			return nil, err
		}
		e := AccessTokenRefreshed{AccessToken: c.NewAccessToken, RefreshedAt: at}
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
		if err := errors.Join(opens(key, "access_token", c.AccessToken), opens(key, "refresh_token", c.RefreshToken)); err != nil {
			return nil, err
		}
		return []aggregate.Event{e}, nil
	}
	return nil, fmt.Errorf("%w %T", ErrUnknownCommand, c)
}

// opens checks that t is a ciphertext of a non-empty UTF-8 token under
// key. The error names the field only.
func opens(key Key, field string, t EncryptedToken) error {
	if err := checkSealed(field, t); err != nil {
		return err
	}
	plain, err := Decrypt(key, t)
	if err != nil {
		return fieldErr(field, fmt.Errorf("does not decrypt under the configured key: %w", err))
	}
	if plain == "" {
		return fieldErr(field, errors.New("encrypts an empty token"))
	}
	return nil
}

// emit returns e unless it would fail the aggregate in Evolve.
func emit(e aggregate.Event, err error) ([]aggregate.Event, error) {
	if err != nil {
		return nil, err
	}
	return []aggregate.Event{e}, nil
}
