package clickhouse

import (
	"syscall"
	"unsafe"
)

// kernelSigaction is struct sigaction as the rt_sigaction syscall takes it
// on linux (amd64 and arm64 layout).
type kernelSigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

// guardedSignals are the synchronous fault signals through which the Go
// runtime turns a bad memory access or arithmetic fault into a recoverable
// panic (and SIGABRT, which it reports). If any of them is left at SIG_DFL
// or at a foreign handler, a nil dereference kills the whole process.
var guardedSignals = []syscall.Signal{syscall.SIGSEGV, syscall.SIGBUS, syscall.SIGFPE, syscall.SIGILL, syscall.SIGABRT}

type signalGuard map[syscall.Signal]kernelSigaction

func rtSigaction(sig syscall.Signal, act, old *kernelSigaction) error {
	_, _, errno := syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig),
		uintptr(unsafe.Pointer(act)), uintptr(unsafe.Pointer(old)), 8, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// saveSignalHandlers snapshots the current (Go runtime's) handlers.
func saveSignalHandlers() signalGuard {
	g := signalGuard{}
	for _, sig := range guardedSignals {
		var old kernelSigaction
		if rtSigaction(sig, nil, &old) == nil {
			g[sig] = old
		}
	}
	return g
}

// restore reinstalls the snapshot wherever a handler changed and returns the
// signals it had to fix.
func (g signalGuard) restore() []syscall.Signal {
	var fixed []syscall.Signal
	for sig, want := range g {
		var cur kernelSigaction
		if rtSigaction(sig, nil, &cur) != nil || cur == want {
			continue
		}
		if rtSigaction(sig, &want, nil) == nil {
			fixed = append(fixed, sig)
		}
	}
	return fixed
}
