package brokerauth_test

import (
	"bytes"
	"errors"
	"testing"

	ba "github.com/hedgeline/hedgeline/processors/brokerauth"
	"pgregory.net/rapid"
)

// sealVia encrypts an access token as a producer does for the given
// command id.
func sealVia(t tb, k ba.Key, commandID, access string) ba.EncryptedToken {
	t.Helper()
	e, err := ba.Encrypt(k, commandID, ba.FieldAccess, access)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func nonce(t ba.EncryptedToken) string { return string(t[:ba.NonceSize]) }

func TestEncryptionRoundTrip(t *testing.T) {
	for _, tok := range []string{"x", accessTok, "ünïcödé ✓", string(bytes.Repeat([]byte("a"), 4096))} {
		sealed := sealVia(t, key, "cmd-1", tok)
		if len(sealed) != ba.NonceSize+len(tok)+16 {
			t.Fatalf("sealed length %d for %d bytes", len(sealed), len(tok))
		}
		if got := decrypt(t, sealed); got != tok {
			t.Fatalf("round trip %q", got)
		}
	}
}

func TestEncryptionIsDeterministicPerCommand(t *testing.T) {
	a := sealVia(t, key, "cmd-1", accessTok)
	if b := sealVia(t, key, "cmd-1", accessTok); !bytes.Equal(a, b) {
		t.Fatal("same command id and token encrypt differently: a replay would not be byte-identical")
	}
	if b := sealVia(t, key, "cmd-1", newAccess); nonce(a) == nonce(b) {
		t.Fatal("different tokens share a nonce")
	}
	if b := sealVia(t, key, "cmd-2", accessTok); nonce(a) == nonce(b) || bytes.Equal(a, b) {
		t.Fatal("the same token in another command encrypts the same")
	}
	if b := sealVia(t, other, "cmd-1", accessTok); nonce(a) == nonce(b) {
		t.Fatal("nonce does not depend on the key")
	}
}

func TestAccessAndRefreshFieldsGetDifferentNonces(t *testing.T) {
	e := store(t, accessTok, accessTok)
	if nonce(e.AccessToken) == nonce(e.RefreshToken) {
		t.Fatal("the same token in both fields shares a nonce")
	}
}

// Without length prefixes, ("a", "access", "Xaccessb") and ("aaccessX",
// "access", "b") would hash the same bytes: two plaintexts, one nonce.
func TestNonceEncodingIsInjective(t *testing.T) {
	a := sealVia(t, key, "a", "Xaccessb")
	b := sealVia(t, key, "aaccessX", "b")
	if nonce(a) == nonce(b) {
		t.Fatal("ambiguous context encoding reuses a nonce for different plaintexts")
	}
}

func TestPropertyDistinctPlaintextsNeverShareANonce(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		id1, id2 := rapid.StringN(0, 8, -1).Draw(t, "id1"), rapid.StringN(0, 8, -1).Draw(t, "id2")
		p1, p2 := rapid.StringN(1, 16, -1).Draw(t, "p1"), rapid.StringN(1, 16, -1).Draw(t, "p2")
		if id1 == "" || id2 == "" {
			return
		}
		a, b := sealVia(t, key, id1, p1), sealVia(t, key, id2, p2)
		if p1 != p2 && nonce(a) == nonce(b) {
			t.Fatalf("nonce reused for different plaintexts")
		}
		if got, err := ba.Decrypt(key, a); err != nil || got != p1 {
			t.Fatalf("round trip: %v", err)
		}
	})
}

func TestTamperedCiphertextFails(t *testing.T) {
	sealed := sealVia(t, key, "cmd-1", accessTok)
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 0x01
		if _, err := ba.Decrypt(key, bad); !errors.Is(err, ba.ErrDecryptionFailed) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
	if _, err := ba.Decrypt(key, sealed[:len(sealed)-1]); !errors.Is(err, ba.ErrDecryptionFailed) {
		t.Fatalf("truncated tag: %v", err)
	}
	if _, err := ba.Decrypt(key, sealed[:ba.NonceSize]); !errors.Is(err, ba.ErrDecryptionFailed) {
		t.Fatalf("nonce only: %v", err)
	}
}

func TestShortCiphertextIsInvalid(t *testing.T) {
	for _, n := range []int{0, 1, ba.NonceSize - 1} {
		if _, err := ba.Decrypt(key, make(ba.EncryptedToken, n)); !errors.Is(err, ba.ErrInvalidCiphertext) {
			t.Fatalf("%d bytes: %v", n, err)
		}
	}
}

func TestWrongKeyFails(t *testing.T) {
	if _, err := ba.Decrypt(other, sealVia(t, key, "cmd-1", accessTok)); !errors.Is(err, ba.ErrDecryptionFailed) {
		t.Fatalf("wrong key: %v", err)
	}
}

func TestNonUTF8PlaintextIsReported(t *testing.T) {
	if _, err := ba.Decrypt(key, legacySeal(t, keyHex, 9, []byte{'o', 'k', 0xc3})); !errors.Is(err, ba.ErrNotUTF8) {
		t.Fatalf("error %v", err)
	}
}

func TestLegacyCiphertextDecrypts(t *testing.T) {
	if got := decrypt(t, legacySeal(t, keyHex, 7, []byte(refreshTok))); got != refreshTok {
		t.Fatalf("got %q", got)
	}
}

func TestEncryptRefusesWhatItCannotSeal(t *testing.T) {
	for name, f := range map[string]func() (ba.EncryptedToken, error){
		"no key":        func() (ba.EncryptedToken, error) { return ba.Encrypt(ba.Key{}, "c", ba.FieldAccess, accessTok) },
		"no command id": func() (ba.EncryptedToken, error) { return ba.Encrypt(key, "", ba.FieldAccess, accessTok) },
		"empty":         func() (ba.EncryptedToken, error) { return ba.Encrypt(key, "c", ba.FieldAccess, "") },
		"not utf-8":     func() (ba.EncryptedToken, error) { return ba.Encrypt(key, "c", ba.FieldAccess, "\xff\xfe") },
	} {
		if e, err := f(); err == nil || e != nil {
			t.Errorf("%s: sealed %x, %v", name, e, err)
		}
	}
}

func TestDecryptNeedsAKey(t *testing.T) {
	if _, err := ba.Decrypt(ba.Key{}, sealVia(t, key, "c", "x")); !errors.Is(err, ba.ErrNoKey) {
		t.Fatalf("error %v", err)
	}
}

func TestStateTokensWhenNotAuthenticated(t *testing.T) {
	var s ba.State
	if _, err := s.AccessToken(key); !errors.Is(err, ba.ErrNotAuthenticated) {
		t.Fatal(err)
	}
	if _, err := s.RefreshToken(key); !errors.Is(err, ba.ErrNotAuthenticated) {
		t.Fatal(err)
	}
	l := given(stored(t))
	if _, err := l.State.AccessToken(other); !errors.Is(err, ba.ErrDecryptionFailed) {
		t.Fatal(err)
	}
}
