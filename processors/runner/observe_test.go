package runner

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/hedgeline/hedgeline/topics"
)

func TestRejectKind(t *testing.T) {
	var syn *json.SyntaxError
	synErr := json.Unmarshal([]byte("{"), &struct{}{})
	if !errors.As(synErr, &syn) {
		t.Fatalf("%v is not a *json.SyntaxError", synErr)
	}
	cases := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("stage x: %w", withKind(KindWrongPartition, errors.New("key k belongs to partition 2"))), KindWrongPartition},
		{fmt.Errorf("command c: %w", aggregate.FieldErr("amount", errors.New("negative"))), KindInvalid},
		{fmt.Errorf("command c: %w", aggregate.ErrUnknownCommand), KindUnknown},
		{fmt.Errorf("payload: %w", synErr), KindUndecodable},
		{errors.New("Place e-123 refused: a hedge is pending"), KindRefused},
	}
	for _, c := range cases {
		if got := RejectKind(c.err); got != c.want {
			t.Errorf("RejectKind(%v) = %q, want %q", c.err, got, c.want)
		}
	}
	// Rejection and StageRejection carry the kind, not the text.
	in := Input{Topic: topics.OnChainTradeCommands, Key: "AAPL|tx:1", Value: []byte("x")}
	o, err := StageRejection(topics.Position, "trade-manager", in, withKind(KindTombstone, errors.New("tombstone")))
	if err != nil {
		t.Fatal(err)
	}
	if o.RejectKind != KindTombstone {
		t.Errorf("StageRejection kind %q, want %q", o.RejectKind, KindTombstone)
	}
}

// handleCommand tags each refusal of a command it cannot use.
func TestHandleCommandRejectKinds(t *testing.T) {
	def := aggregate.Definition[struct{}]{Type: topics.OnChainTrade}
	tt, err := topics.TopicsFor(topics.OnChainTrade)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		value []byte
		want  string
	}{
		{nil, KindTombstone},
		{[]byte("not json"), KindUndecodable},
	} {
		_, out, err := handleCommand(def, tt, AggState[struct{}]{}, Input{Topic: tt.Commands, Key: "AAPL|tx:1", Value: c.value})
		if err != nil || len(out) != 1 {
			t.Fatalf("value %q: %d outputs, err %v", c.value, len(out), err)
		}
		if out[0].RejectKind != c.want || out[0].Topic != tt.Rejections {
			t.Errorf("value %q: kind %q on %s, want %q on %s", c.value, out[0].RejectKind, out[0].Topic, c.want, tt.Rejections)
		}
	}
}
