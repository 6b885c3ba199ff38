// Package stagetest holds what the tests of the stages between aggregates
// (trade manager, order manager, PnL stage) share: events as the runner
// delivers them, commands decoded as their aggregate reads them, and the
// check that an undecodable input is rejected with its reason.
package stagetest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/hedgeline/hedgeline/processors/offchainorder"
	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/hedgeline/hedgeline/processors/runner"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/shopspring/decimal"
)

// T0 is the time of every event EventIn builds.
var T0 = time.Date(2025, 11, 4, 14, 30, 0, 0, time.UTC)

// D parses a decimal literal.
func D(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// EventIn wraps an event as the runner would deliver it.
func EventIn(t *testing.T, aggType, id string, seq uint64, e aggregate.Event) runner.Input {
	t.Helper()
	payload, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	b, err := topics.EncodeEvent(topics.EventEnvelope{
		AggregateType: aggType, AggregateID: id, Sequence: seq, EventType: e.EventType(), EventVersion: 1,
		OccurredAt: T0, CommandID: "c", CorrelationID: "c", CausationID: "c", Payload: payload,
	})
	if err != nil {
		t.Fatal(err)
	}
	tt, err := topics.TopicsFor(aggType)
	if err != nil {
		t.Fatal(err)
	}
	return runner.Input{Topic: tt.Events, Key: id, Value: b, Offset: int64(seq), Timestamp: T0}
}

// DecodeCommand decodes a Position or OffchainOrder command a stage emitted.
func DecodeCommand(t *testing.T, o runner.Output) (topics.CommandEnvelope, aggregate.Command) {
	t.Helper()
	env, err := topics.DecodeCommand(o.Value)
	if err != nil {
		t.Fatal(err)
	}
	var dec aggregate.Decoder[aggregate.Command]
	switch env.AggregateType {
	case topics.Position:
		dec = position.Commands
	case topics.OffchainOrder:
		dec = offchainorder.Commands
	}
	c, err := dec.Decode(env.CommandType, env.Payload)
	if err != nil {
		t.Fatal(err)
	}
	return env, c
}

// Poison is an input that is no event envelope.
var Poison = runner.Input{Topic: topics.OnChainTradeEvents, Key: "k", Value: []byte("not json"), Offset: 3, Timestamp: T0}

// RejectsPoison checks what a stage's handler returned for Poison: one
// rejection naming the input undecodable, with its offset and original
// bytes, and no error.
func RejectsPoison(t *testing.T, name string, out []runner.Output, err error) {
	t.Helper()
	if err != nil || len(out) != 1 || !strings.HasSuffix(out[0].Topic, ".rejections") {
		t.Fatalf("%s: out %v err %v", name, out, err)
	}
	r, err := topics.DecodeRejection(out[0].Value)
	if err != nil || !strings.Contains(r.Reason, "undecodable") || r.Offset != 3 || string(r.Original()) != "not json" {
		t.Fatalf("%s: rejection %+v %v", name, r, err)
	}
}
