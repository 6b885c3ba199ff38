package topics

import (
	"encoding/json"
	"testing"
)

// A position event's payload as the pipeline writes it (OnChainOrderFilled).
const benchPayload = `{"trade_id":{"tx_hash":"0x6f1c2d3e4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0","log_index":3},` +
	`"block_number":34844164,"amount":"1.2345","direction":"Buy","price_usdc":"228.4100",` +
	`"block_timestamp":"2025-11-04T14:30:01Z","seen_at":"2025-11-04T14:30:02.123456789Z"}`

// BenchmarkEventCodec is one envelope encoded and decoded, as every stage
// does per event it reads and writes.
func BenchmarkEventCodec(b *testing.B) {
	e := sampleEvent()
	e.Payload = json.RawMessage(benchPayload)
	b.ReportAllocs()
	for b.Loop() {
		raw, err := EncodeEvent(e)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := DecodeEnvelope(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCommandCodec is the same for a command envelope.
func BenchmarkCommandCodec(b *testing.B) {
	c := sampleCommand()
	c.Payload = json.RawMessage(benchPayload)
	b.ReportAllocs()
	for b.Loop() {
		raw, err := EncodeCommand(c)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := DecodeCommand(raw); err != nil {
			b.Fatal(err)
		}
	}
}
