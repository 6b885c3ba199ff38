package brokerauth

import (
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// KeySize is the AES-256 key length in bytes.
const KeySize = 32

const redacted = "[redacted]"

// Key is the 32-byte AES-256 key. Every formatting path that can call its
// methods prints "[redacted]". The bytes live in a closure rather than a
// field: fmt prints a Key held in an unexported struct field by reflection,
// without its methods, and would print an array (even behind a pointer:
// "%!s(*[32]uint8=&[95 43 ...])"), but a func only ever prints as an
// address, and no reflection-based dumper can look inside a closure. The
// zero Key has no key.
type Key struct{ bytes func() *[KeySize]byte }

func keyOf(k [KeySize]byte) Key { return Key{func() *[KeySize]byte { return &k }} }

var (
	// ErrInvalidKey is returned by ParseKey and NewKey. Its messages never
	// contain the input.
	ErrInvalidKey = errors.New("invalid encryption key")
	// ErrNoKey is returned when an operation needs the key and it is zero.
	ErrNoKey = errors.New("encryption key is not configured")
)

// ParseKey parses 64 hex digits, optionally 0x-prefixed and surrounded by
// whitespace (as ENCRYPTION_KEY is usually written).
func ParseKey(s string) (Key, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if len(s) != 2*KeySize {
		return Key{}, fmt.Errorf("%w: want %d hex digits, got %d characters", ErrInvalidKey, 2*KeySize, len(s))
	}
	var k [KeySize]byte
	if _, err := hex.Decode(k[:], []byte(s)); err != nil {
		// hex's error quotes the offending byte; do not wrap it.
		return Key{}, fmt.Errorf("%w: not hexadecimal", ErrInvalidKey)
	}
	return keyOf(k), nil
}

// NewKey copies 32 raw bytes into a Key.
func NewKey(b []byte) (Key, error) {
	if len(b) != KeySize {
		return Key{}, fmt.Errorf("%w: want %d bytes, got %d", ErrInvalidKey, KeySize, len(b))
	}
	var k [KeySize]byte
	copy(k[:], b)
	return keyOf(k), nil
}

// IsZero reports whether no key was set.
func (k Key) IsZero() bool { return k.bytes == nil }

func (k Key) String() string   { return redacted }
func (k Key) GoString() string { return redacted }

// Format prints "[redacted]" for every verb (%x and %d included).
func (k Key) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// MarshalJSON and MarshalText redact, so a config struct can be logged.
func (k Key) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }
func (k Key) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LogValue redacts the key in slog output.
func (k Key) LogValue() slog.Value { return slog.StringValue(redacted) }
