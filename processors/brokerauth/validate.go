package brokerauth

import (
	"errors"
	"fmt"
	"time"
)

// checkSealed validates the shape of a ciphertext (Evolve has no key).
func checkSealed(field string, t EncryptedToken) error {
	if len(t) < minSealed {
		return fieldErr(field, fmt.Errorf("%w: %d bytes, want at least %d", ErrInvalidCiphertext, len(t), minSealed))
	}
	return nil
}

func checkTime(field string, t time.Time) error {
	if t.IsZero() {
		return fieldErr(field, errors.New("must be set"))
	}
	return nil
}

func (e TokensStored) check() error {
	return errors.Join(
		checkSealed("access_token", e.AccessToken),
		checkTime("access_token_fetched_at", e.AccessTokenFetchedAt),
		checkSealed("refresh_token", e.RefreshToken),
		checkTime("refresh_token_fetched_at", e.RefreshTokenFetchedAt),
	)
}

func (e AccessTokenRefreshed) check() error {
	return errors.Join(checkSealed("access_token", e.AccessToken), checkTime("refreshed_at", e.RefreshedAt))
}
