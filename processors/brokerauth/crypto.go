package brokerauth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// NonceSize is the GCM nonce length that prefixes every EncryptedToken.
const NonceSize = 12

// minSealed is a nonce plus the 16-byte GCM tag: the shortest ciphertext
// of any token (and the empty token is refused anyway).
const minSealed = NonceSize + 16

// EncryptedToken is nonce(12) ‖ AES-256-GCM ciphertext ‖ tag, as upstream
// stored it (legacy ciphertexts with random nonces decrypt the same way).
// JSON is a lowercase hex string; decoding also accepts a 0x prefix.
type EncryptedToken []byte

func (t EncryptedToken) MarshalJSON() ([]byte, error) {
	return json.Marshal(hex.EncodeToString(t))
}

func (t *EncryptedToken) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("encrypted token: %w", err)
	}
	raw, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil {
		return fmt.Errorf("encrypted token: not hex: %w", err)
	}
	*t = raw
	return nil
}

// Decryption errors. None of them carries the plaintext or the key.
var (
	ErrInvalidCiphertext = errors.New("ciphertext shorter than its nonce")
	ErrDecryptionFailed  = errors.New("decryption failed")
	ErrNotUTF8           = errors.New("decrypted token is not valid UTF-8")
)

// nonceLabel separates the nonce subkey from the AES key.
const nonceLabel = "hedgeline brokerauth nonce v1"

// seal encrypts plaintext deterministically.
//
// GCM is catastrophically broken if one nonce ever encrypts two different
// plaintexts under one key, so upstream drew a random nonce. Here the same
// command must encrypt to the same bytes (a producer retrying a command
// sends one command, and events copy its ciphertext), so the nonce is
// synthetic, as in SIV modes:
//
//	subkey = HMAC-SHA256(key, "hedgeline brokerauth nonce v1")
//	nonce  = HMAC-SHA256(subkey, len(commandID) ‖ commandID ‖ len(field) ‖ field ‖ plaintext)[:12]
//
// with the lengths as 8-byte big-endian integers. The nonce is a function
// of the plaintext, so two different plaintexts get different nonces (up
// to a 96-bit PRF collision, a 2^-48 birthday bound after 2^24 tokens),
// and the same plaintext in the same context gets the same nonce and so
// the same ciphertext: harmless, and exactly what a replay needs. The
// context (the command id and "access"/"refresh") makes the same token in
// another command or field encrypt differently, so equal ciphertexts
// reveal only a replay, not a reused token. The lengths make the encoding
// injective: without them ("a", "access", "Xaccessb") and ("aaccessX",
// "access", "b") would hash the same bytes and share a nonce for different
// plaintexts. The subkey keeps the AES key out of HMAC. The nonce itself
// is an HMAC output and reveals nothing about the plaintext.
func seal(key Key, commandID, field, plaintext string) (EncryptedToken, error) {
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	sub := hmac.New(sha256.New, key.bytes()[:])
	sub.Write([]byte(nonceLabel))
	mac := hmac.New(sha256.New, sub.Sum(nil))
	for _, part := range []string{commandID, field} {
		_ = binary.Write(mac, binary.BigEndian, uint64(len(part)))
		mac.Write([]byte(part))
	}
	mac.Write([]byte(plaintext))
	nonce := mac.Sum(nil)[:NonceSize]
	return aead.Seal(nonce, nonce, []byte(plaintext), nil), nil
}

// Token fields, part of the nonce context of Encrypt.
const (
	FieldAccess  = "access"
	FieldRefresh = "refresh"
)

// Encrypt seals a plaintext token for a command: field is FieldAccess or
// FieldRefresh and commandID the id of the command that will carry it. The
// producer (login, refresh) encrypts before producing, so no command ever
// holds a plaintext token; the same inputs give the same bytes, so a
// retried produce is the same command.
func Encrypt(key Key, commandID, field, plaintext string) (EncryptedToken, error) {
	switch {
	case commandID == "":
		return nil, ErrMissingCommandID
	case plaintext == "":
		return nil, fieldErr(field, errors.New("must not be empty"))
	case !utf8.ValidString(plaintext):
		return nil, fieldErr(field, errors.New("must be valid UTF-8"))
	}
	return seal(key, commandID, field, plaintext)
}

// Decrypt opens a token sealed under key (by this package or upstream).
func Decrypt(key Key, t EncryptedToken) (string, error) {
	aead, err := newGCM(key)
	if err != nil {
		return "", err
	}
	if len(t) < NonceSize {
		return "", fmt.Errorf("%w: %d bytes", ErrInvalidCiphertext, len(t))
	}
	plain, err := aead.Open(nil, t[:NonceSize], t[NonceSize:], nil)
	if err != nil {
		return "", ErrDecryptionFailed
	}
	if !utf8.Valid(plain) {
		return "", ErrNotUTF8
	}
	return string(plain), nil
}

func newGCM(key Key) (cipher.AEAD, error) {
	if key.IsZero() {
		return nil, ErrNoKey
	}
	block, err := aes.NewCipher(key.bytes()[:])
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err) // unreachable: the key is 32 bytes
	}
	return cipher.NewGCM(block)
}
