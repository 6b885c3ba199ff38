// Package topics is the Kafka contract every other package shares: the topic
// catalog, the JSON envelopes written to those topics, the partitioner goka
// expects, and an admin helper that creates or verifies the topics.
//
// Decoding refuses a command_version or event_version this code does not
// know (CommandVersion, EventVersion; DecodeEvent also takes what an
// upcaster handles). EncodeRejection never returns more than
// MaxRejectionBytes: an original over MaxOriginalBytes is kept as a prefix
// with its size and SHA-256 (Rejection.Truncated), so a rejection always
// fits the topic and nothing rejected vanishes.
//
// File map:
//
//	catalog.go      topic names, aggregate types, per-topic Spec
//	envelope.go     EventEnvelope, CommandEnvelope, Rejection and its size bounds
//	validate.go     field checks, known command/event versions, FieldError, ErrInvalid
//	codec.go        Encode/Decode: validation, UTC times, compact payloads
//	upcast.go       step-by-step upcasting of old event payloads on read
//	partitioner.go  FNV-1a placement compatible with sarama/goka
//	kafka.go        franz-go client options other packages reuse
//	admin.go        Ensure: create missing topics, verify existing ones
package topics
