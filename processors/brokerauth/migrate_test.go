package brokerauth_test

import (
	"errors"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/processors/aggregate"
	ba "github.com/hedgeline/hedgeline/processors/brokerauth"
)

var (
	accessFetched  = time.Date(2025, 11, 30, 9, 0, 0, 0, time.UTC)
	refreshFetched = time.Date(2025, 11, 28, 9, 0, 0, 0, time.UTC)
)

func legacyMigrate(t *testing.T) ba.Migrate {
	return ba.Migrate{
		AccessToken: legacySeal(t, keyHex, 1, []byte(accessTok)), AccessTokenFetchedAt: accessFetched,
		RefreshToken: legacySeal(t, keyHex, 2, []byte(refreshTok)), RefreshTokenFetchedAt: refreshFetched,
	}
}

func TestMigrateStoresLegacyCiphertextUnchanged(t *testing.T) {
	c := legacyMigrate(t)
	l, got, err := when(given(), c)
	if err != nil {
		t.Fatal(err)
	}
	want := ba.TokensStored{AccessToken: c.AccessToken, AccessTokenFetchedAt: accessFetched,
		RefreshToken: c.RefreshToken, RefreshTokenFetchedAt: refreshFetched}
	if len(got) != 1 || mustJSON(t, got[0]) != mustJSON(t, want) || got[0].EventType() != "TokensStored" {
		t.Fatalf("got %v", got)
	}
	if a, _ := l.State.AccessToken(key); a != accessTok {
		t.Fatal("legacy access token does not decrypt")
	}
	if r, _ := l.State.RefreshToken(key); r != refreshTok {
		t.Fatal("legacy refresh token does not decrypt")
	}
}

func TestMigrateOnAuthenticatedBroker(t *testing.T) {
	_, got, err := when(given(stored(t)), legacyMigrate(t))
	thenError(t, got, err, ba.ErrAlreadyAuthenticated)
	thenError(t, got, err, aggregate.ErrAlreadyInitialized)
}

func TestMigrateRefusesTokensTheKeyCannotOpen(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*ba.Migrate)
		field  string
		err    error
	}{
		{"access under another key", func(c *ba.Migrate) { c.AccessToken = legacySeal(t, otherHex, 1, []byte(accessTok)) }, "access_token", ba.ErrDecryptionFailed},
		{"refresh under another key", func(c *ba.Migrate) { c.RefreshToken = legacySeal(t, otherHex, 1, []byte(refreshTok)) }, "refresh_token", ba.ErrDecryptionFailed},
		{"access not utf-8", func(c *ba.Migrate) { c.AccessToken = legacySeal(t, keyHex, 1, []byte{0xff}) }, "access_token", ba.ErrNotUTF8},
		{"short access", func(c *ba.Migrate) { c.AccessToken = c.AccessToken[:11] }, "access_token", ba.ErrInvalidCiphertext},
		{"nonce and tag only", func(c *ba.Migrate) { c.RefreshToken = c.RefreshToken[:27] }, "refresh_token", ba.ErrInvalidCiphertext},
		{"no access time", func(c *ba.Migrate) { c.AccessTokenFetchedAt = time.Time{} }, "access_token_fetched_at", ba.ErrInvalid},
		{"no refresh time", func(c *ba.Migrate) { c.RefreshTokenFetchedAt = time.Time{} }, "refresh_token_fetched_at", ba.ErrInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := legacyMigrate(t)
			tc.mutate(&c)
			_, got, err := when(given(), c)
			thenError(t, got, err, tc.err)
			var fe *ba.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("error %v does not name %s", err, tc.field)
			}
		})
	}
}
