package brokerauth

import (
	"fmt"
	"log/slog"
)

// Token is a plaintext OAuth token in memory (the broker client holds
// them). It prints and logs as "[redacted]"; commands and events carry
// only EncryptedToken (see Encrypt).
type Token string

func (Token) String() string   { return redacted }
func (Token) GoString() string { return redacted }

// Format prints "[redacted]" for every verb.
func (Token) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue redacts the token in slog output.
func (Token) LogValue() slog.Value { return slog.StringValue(redacted) }
