package brokerauth_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/hedgeline/hedgeline/processors/aggregate"
	ba "github.com/hedgeline/hedgeline/processors/brokerauth"
)

func TestStoreTokensAuthenticates(t *testing.T) {
	c := store(t, accessTok, refreshTok)
	l, got, err := when(given(), c)
	if err != nil || len(got) != 1 {
		t.Fatalf("%v %v", got, err)
	}
	e := got[0].(ba.TokensStored)
	if !e.AccessTokenFetchedAt.Equal(meta.At) || !e.RefreshTokenFetchedAt.Equal(meta.At) {
		t.Fatalf("times %v %v", e.AccessTokenFetchedAt, e.RefreshTokenFetchedAt)
	}
	if decrypt(t, e.AccessToken) != accessTok || decrypt(t, e.RefreshToken) != refreshTok {
		t.Fatal("tokens do not decrypt to what was stored")
	}
	if !bytes.Equal(e.AccessToken, c.AccessToken) || !bytes.Equal(e.RefreshToken, c.RefreshToken) {
		t.Fatal("the event does not store the command's ciphertext as given")
	}
	if l.Status != aggregate.Live || l.Version != 1 {
		t.Fatalf("lifecycle %+v", l)
	}
	if a, err := l.State.AccessToken(key); err != nil || a != accessTok {
		t.Fatalf("access %v", err)
	}
	if r, err := l.State.RefreshToken(key); err != nil || r != refreshTok {
		t.Fatalf("refresh %v", err)
	}
}

func TestStoreTokensOnAuthenticatedBrokerOverwrites(t *testing.T) {
	l := given(stored(t))
	m := aggregate.Meta{CommandID: "cmd-2", At: meta.At.Add(8 * 24 * 3600e9)}
	l, got, err := aggregate.Execute(def, l, store(t, newAccess, "refresh-2"), m)
	if err != nil || len(got) != 1 {
		t.Fatal(err)
	}
	if l.Status != aggregate.Live || l.Version != 2 || !l.State.RefreshTokenFetchedAt.Equal(m.At) {
		t.Fatalf("lifecycle %+v", l)
	}
	if a, _ := l.State.AccessToken(key); a != newAccess {
		t.Fatal("access token not overwritten")
	}
	if r, _ := l.State.RefreshToken(key); r != "refresh-2" {
		t.Fatal("refresh token not overwritten")
	}
}

func TestStoreTokensOnFailedBrokerReportsTheFailure(t *testing.T) {
	l := given(ba.TokensStored{}) // an invalid genesis fails the aggregate
	_, got, err := when(l, store(t, accessTok, refreshTok))
	var fe *aggregate.FailedError
	if !errors.As(err, &fe) || got != nil {
		t.Fatalf("error %v", err)
	}
}

func TestStoreTokensRejectsInvalidTokens(t *testing.T) {
	cases := []struct {
		name, field string
		c           ba.StoreTokens
	}{
		{"empty access", "access_token", ba.StoreTokens{RefreshToken: store(t, accessTok, refreshTok).RefreshToken}},
		{"empty refresh", "refresh_token", ba.StoreTokens{AccessToken: store(t, accessTok, refreshTok).AccessToken}},
		{"access under another key", "access_token", ba.StoreTokens{AccessToken: enc(t, other, ba.FieldAccess, accessTok), RefreshToken: store(t, accessTok, refreshTok).RefreshToken}},
		{"refresh tampered", "refresh_token", func() ba.StoreTokens {
			c := store(t, accessTok, refreshTok)
			c.RefreshToken[ba.NonceSize] ^= 1
			return c
		}()},
		{"access not utf-8", "access_token", ba.StoreTokens{AccessToken: legacySeal(t, keyHex, 1, []byte{0xff, 0xfe}), RefreshToken: store(t, accessTok, refreshTok).RefreshToken}},
		{"access empty plaintext", "access_token", ba.StoreTokens{AccessToken: legacySeal(t, keyHex, 2, nil), RefreshToken: store(t, accessTok, refreshTok).RefreshToken}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, got, err := when(given(), tc.c)
			thenError(t, got, err, ba.ErrInvalid)
			var fe *ba.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("error %v does not name %s", err, tc.field)
			}
		})
	}
}

func TestDecideNeedsTimeCommandIDAndKey(t *testing.T) {
	c := store(t, accessTok, refreshTok)
	_, err := ba.Decide(key, given(), c, aggregate.Meta{CommandID: "x"})
	thenError(t, nil, err, ba.ErrMissingTime)
	_, err = ba.Decide(key, given(), c, aggregate.Meta{At: meta.At})
	thenError(t, nil, err, ba.ErrMissingCommandID)
	for _, cmd := range []aggregate.Command{c, refresh(t, newAccess), ba.Migrate{}} {
		_, err = ba.Decide(ba.Key{}, given(stored(t)), cmd, meta)
		thenError(t, nil, err, ba.ErrNoKey)
	}
}

func TestDecideRejectsUnknownCommands(t *testing.T) {
	c := store(t, accessTok, refreshTok)
	_, err := ba.Decide(key, given(), &c, meta)
	thenError(t, nil, err, ba.ErrUnknownCommand)
}
