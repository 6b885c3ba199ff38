//go:build !unix

package diskspace

import "errors"

func statfs(string) (Usage, error) { return Usage{}, errors.New("not supported on this platform") }
