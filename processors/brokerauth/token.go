package brokerauth

import (
	"fmt"
	"log/slog"
)

// Token is a plaintext OAuth token in a command. It marshals to JSON as the
// plain string (commands must carry it to the aggregate) but prints and
// logs as "[redacted]", so logging a command does not leak it. Note that
// the command topic and its rejections topic therefore hold plaintext.
type Token string

func (Token) String() string   { return redacted }
func (Token) GoString() string { return redacted }

// Format prints "[redacted]" for every verb.
func (Token) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue redacts the token in slog output.
func (Token) LogValue() slog.Value { return slog.StringValue(redacted) }
