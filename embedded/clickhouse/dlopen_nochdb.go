//go:build nochdb

package clickhouse

// This binary was built with -tags nochdb: no purego, no dlopen, a static
// executable. Start fails with ErrNotBuiltIn before fetching anything.
const builtIn = false

func dlopen(string) error { return ErrNotBuiltIn }
