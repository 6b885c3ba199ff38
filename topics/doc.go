// Package topics is the Kafka contract every other package shares: the topic
// catalog, the JSON envelopes written to those topics, the partitioner goka
// expects, and an admin helper that creates or verifies the topics.
//
// File map:
//
//	catalog.go      topic names, aggregate types, per-topic Spec
//	envelope.go     EventEnvelope, CommandEnvelope, Rejection
//	validate.go     field checks, FieldError, ErrInvalid
//	codec.go        Encode/Decode: validation, UTC times, compact payloads
//	upcast.go       step-by-step upcasting of old event payloads on read
//	partitioner.go  FNV-1a placement compatible with sarama/goka
//	kafka.go        franz-go client options other packages reuse
//	admin.go        Ensure: create missing topics, verify existing ones
package topics
