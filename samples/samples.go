// Package samples embeds the demo's fills, so `hedgeline demo` runs from
// any directory without the repository beside it.
package samples

import _ "embed"

// Fills is fills.jsonl: 60 fills over a few symbols, one JSON object a line.
//
//go:embed fills.jsonl
var Fills []byte

// FillsName is how messages name the embedded file.
const FillsName = "samples/fills.jsonl (embedded)"
