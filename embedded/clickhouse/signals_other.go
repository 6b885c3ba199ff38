//go:build !linux

package clickhouse

import "syscall"

type signalGuard struct{}

func saveSignalHandlers() signalGuard         { return signalGuard{} }
func (signalGuard) restore() []syscall.Signal { return nil }
