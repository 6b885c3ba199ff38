package brokerauth_test

import (
	"errors"
	"testing"

	"github.com/hedgeline/hedgeline/processors/aggregate"
	ba "github.com/hedgeline/hedgeline/processors/brokerauth"
)

func TestRefreshAccessTokenReplacesOnlyTheAccessToken(t *testing.T) {
	first := stored(t)
	m := aggregate.Meta{CommandID: "cmd-2", At: meta.At.Add(29 * 60e9)}
	l, got, err := aggregate.Execute(def, given(first), refresh(t, newAccess), m)
	if err != nil || len(got) != 1 {
		t.Fatal(err)
	}
	e := got[0].(ba.AccessTokenRefreshed)
	if decrypt(t, e.AccessToken) != newAccess || !e.RefreshedAt.Equal(m.At) {
		t.Fatalf("event %+v", e)
	}
	s := l.State
	if a, _ := s.AccessToken(key); a != newAccess || !s.AccessTokenFetchedAt.Equal(m.At) {
		t.Fatal("access token not replaced")
	}
	if string(s.EncryptedRefreshToken) != string(first.RefreshToken) || !s.RefreshTokenFetchedAt.Equal(meta.At) {
		t.Fatal("refresh token changed")
	}
}

func TestRefreshAccessTokenNotAuthenticated(t *testing.T) {
	_, got, err := when(given(), refresh(t, newAccess))
	thenError(t, got, err, ba.ErrNotAuthenticated)
	thenError(t, got, err, aggregate.ErrUninitialized)
}

func TestRefreshAccessTokenOnFailedBroker(t *testing.T) {
	_, got, err := when(given(ba.TokensStored{}), refresh(t, newAccess))
	var fe *aggregate.FailedError
	if !errors.As(err, &fe) || got != nil {
		t.Fatalf("error %v", err)
	}
}

func TestRefreshAccessTokenNeedsATokenUnderTheKey(t *testing.T) {
	for name, c := range map[string]ba.RefreshAccessToken{
		"empty":     {},
		"other key": {NewAccessToken: enc(t, other, ba.FieldAccess, newAccess)},
	} {
		_, got, err := when(given(stored(t)), c)
		thenError(t, got, err, ba.ErrInvalid)
		var fe *ba.FieldError
		if !errors.As(err, &fe) || fe.Field != "new_access_token" {
			t.Fatalf("%s: error %v", name, err)
		}
	}
}
