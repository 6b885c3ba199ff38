package brokerauth_test

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/hex"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/processors/aggregate"
	ba "github.com/hedgeline/hedgeline/processors/brokerauth"
)

const (
	keyHex     = "5f2b9c0e71a84d36b2e9f0c1d4a7653e8b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e"
	otherHex   = "0000000000000000000000000000000000000000000000000000000000000001"
	accessTok  = "I0.b2F1dGgyLmNkYy5zY2h3YWIuY29t.access-TOKEN-7f3a9c"
	refreshTok = "refresh-TOKEN-4e8d2b@b2F1dGgyLmNkYy5zY2h3YWIuY29t"
	newAccess  = "I0.b2F1dGgyLmNkYy5zY2h3YWIuY29t.access-TOKEN-second-91d0"
)

var (
	key   = mustKey(keyHex)
	other = mustKey(otherHex)
	meta  = aggregate.Meta{CommandID: "cmd-1", At: time.Date(2025, 12, 24, 12, 0, 0, 0, time.UTC)}
	def   = ba.NewDefinition(key)
)

func mustKey(s string) ba.Key {
	k, err := ba.ParseKey(s)
	if err != nil {
		panic(err)
	}
	return k
}

func given(events ...aggregate.Event) aggregate.Lifecycle[ba.State] {
	return aggregate.Replay(def, events)
}

func when(l aggregate.Lifecycle[ba.State], c aggregate.Command) (aggregate.Lifecycle[ba.State], []aggregate.Event, error) {
	return aggregate.Execute(def, l, c, meta)
}

type tb interface {
	Helper()
	Fatal(...any)
}

// enc encrypts as a producer does, for the command id "cmd-1".
func enc(t tb, k ba.Key, field, plain string) ba.EncryptedToken {
	t.Helper()
	e, err := ba.Encrypt(k, "cmd-1", field, plain)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// store is a StoreTokens as the login produces it: encrypted under key.
func store(t tb, access, refresh string) ba.StoreTokens {
	return ba.StoreTokens{AccessToken: enc(t, key, ba.FieldAccess, access), RefreshToken: enc(t, key, ba.FieldRefresh, refresh)}
}

// refresh is a RefreshAccessToken as the broker produces it.
func refresh(t tb, access string) ba.RefreshAccessToken {
	return ba.RefreshAccessToken{NewAccessToken: enc(t, key, ba.FieldAccess, access)}
}

// stored is the TokensStored the fixed command stores.
func stored(t *testing.T) ba.TokensStored {
	t.Helper()
	_, events, err := when(given(), store(t, accessTok, refreshTok))
	if err != nil {
		t.Fatal(err)
	}
	return events[0].(ba.TokensStored)
}

// legacySeal encrypts as upstream did: nonce ‖ AES-256-GCM(plaintext).
func legacySeal(t *testing.T, hexKey string, nonce byte, plaintext []byte) ba.EncryptedToken {
	t.Helper()
	raw, err := hex.DecodeString(hexKey)
	if err != nil {
		t.Fatal(err)
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	n := make([]byte, 12)
	n[11] = nonce
	return gcm.Seal(n, n, plaintext, nil)
}

func thenError(t *testing.T, got []aggregate.Event, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
	if got != nil {
		t.Fatalf("refused command returned events %v", got)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func decrypt(t *testing.T, tok ba.EncryptedToken) string {
	t.Helper()
	s, err := ba.Decrypt(key, tok)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
