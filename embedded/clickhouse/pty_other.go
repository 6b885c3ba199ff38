//go:build !linux

package clickhouse

import (
	"errors"
	"os"
)

func openPTY() (master, terminal *os.File, err error) {
	return nil, nil, errors.New("the supervised engine needs a Linux pseudo-terminal")
}

func stdinIsTerminal() bool { return false }
