// Package secret reads a secret that a command takes either as a flag's
// value (usually set through its HEDGELINE_* variable) or from a file named
// by a sibling flag (a mounted Secret, a systemd credential). Errors name
// the flags and never contain the secret.
package secret

import (
	"fmt"
	"os"
	"strings"
)

// FromValueOrFile returns value, or the first line of the file at path:
// the two are exclusive. valueFlag and fileFlag are the flags' names for
// errors ("--clickhouse-password", "--clickhouse-password-file").
func FromValueOrFile(valueFlag, value, fileFlag, path string) (string, error) {
	switch {
	case path == "":
		return value, nil
	case value != "":
		return "", fmt.Errorf("%s and %s are exclusive", valueFlag, fileFlag)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", fileFlag, err)
	}
	// One line: the newline an editor or echo leaves is not part of it.
	return strings.TrimRight(string(b), "\r\n"), nil
}
