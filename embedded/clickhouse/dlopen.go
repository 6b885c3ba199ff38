//go:build !nochdb

package clickhouse

import (
	"fmt"

	"github.com/ebitengine/purego"
)

// builtIn says whether this binary can load the engine. Without cgo,
// purego links the binary dynamically (libc, libdl) to dlopen; a binary
// built with -tags nochdb leaves it out and is fully static (the
// container image, which talks to a ClickHouse server).
const builtIn = true

// dlopen loads libchdb at path into libFns.
func dlopen(path string) error {
	// RTLD_NOW: fail here, not mid-query, on a missing symbol. RTLD_GLOBAL:
	// the library's C++ runtime symbols (typeinfo, allocator) are then the
	// ones any later-loaded object sees, avoiding duplicate runtimes.
	libFns.goSignals = saveSignalHandlers()
	h, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return fmt.Errorf("clickhouse: loading %s: %w", path, err)
	}
	for _, sym := range []string{"chdb_query_cmdline", "chdb_result_error", "chdb_destroy_query_result"} {
		if _, err := purego.Dlsym(h, sym); err != nil {
			return fmt.Errorf("clickhouse: %s has no %s (not a libchdb >= 26.1?): %w", path, sym, err)
		}
	}
	purego.RegisterLibFunc(&libFns.queryCmdline, h, "chdb_query_cmdline")
	purego.RegisterLibFunc(&libFns.resultError, h, "chdb_result_error")
	purego.RegisterLibFunc(&libFns.destroyResult, h, "chdb_destroy_query_result")

	// By default the engine installs its own handlers for SIGSEGV, SIGBUS,
	// etc. Go needs its own there: with chDB's, an ordinary recoverable Go
	// nil dereference kills the process (seen: exit 139). Opting out must
	// happen before the engine starts. The opt-out resets the signals chDB
	// had installed to SIG_DFL, which would clobber Go's handlers if chDB
	// had got there first: restore Go's (a no-op with this build, checked).
	if _, err := purego.Dlsym(h, "chdb_set_signal_handlers_enabled"); err == nil {
		var setSignalHandlers func(enabled int32)
		purego.RegisterLibFunc(&setSignalHandlers, h, "chdb_set_signal_handlers_enabled")
		setSignalHandlers(0)
	}
	restoreGoSignals("loading the library")
	return nil
}
