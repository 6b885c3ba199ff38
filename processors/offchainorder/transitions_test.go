package offchainorder_test

import (
	"errors"
	"testing"

	"github.com/hedgeline/hedgeline/processors/aggregate"
	oo "github.com/hedgeline/hedgeline/processors/offchainorder"
)

// commands holds one valid command of each type (for the partial fill:
// valid against every order that has filled at most 1 of 3 shares).
var commands = map[string]aggregate.Command{
	"Place":             place(),
	"Migrate":           oo.Migrate{Symbol: "AAPL", Shares: dec("3"), Direction: "Buy", Broker: "schwab", Status: oo.StatusPending},
	"ConfirmSubmission": oo.ConfirmSubmission{BrokerOrderID: "1004055538153"},
	"UpdatePartialFill": oo.UpdatePartialFill{SharesFilled: dec("2"), AvgPrice: dec("190.1")},
	"CompleteFill":      oo.CompleteFill{Price: dec("190.2")},
	"MarkFailed":        oo.MarkFailed{Error: "cancelled by broker"},
}

// TestStateMachineCommands covers every state × command: the event a
// valid command emits, or the error it is refused with.
func TestStateMachineCommands(t *testing.T) {
	type outcome struct {
		event string // event type emitted, or ""
		err   error
	}
	ok := func(e string) outcome { return outcome{event: "OffchainOrderEvent::" + e} }
	no := func(err error) outcome { return outcome{err: err} }
	uninit := no(aggregate.ErrUninitialized)
	placedErr := no(oo.ErrAlreadyPlaced)
	completed := no(oo.ErrAlreadyCompleted)
	table := map[string]map[string]outcome{
		"Uninitialized": {"Place": ok("Placed"), "Migrate": ok("Migrated"), "ConfirmSubmission": uninit,
			"UpdatePartialFill": uninit, "CompleteFill": uninit, "MarkFailed": uninit},
		"Pending": {"Place": placedErr, "Migrate": placedErr, "ConfirmSubmission": ok("Submitted"),
			"UpdatePartialFill": no(oo.ErrNotSubmitted), "CompleteFill": no(oo.ErrNotSubmitted), "MarkFailed": ok("Failed")},
		"Submitted": {"Place": placedErr, "Migrate": placedErr, "ConfirmSubmission": no(oo.ErrAlreadySubmitted),
			"UpdatePartialFill": ok("PartiallyFilled"), "CompleteFill": ok("Filled"), "MarkFailed": ok("Failed")},
		"PartiallyFilled": {"Place": placedErr, "Migrate": placedErr, "ConfirmSubmission": no(oo.ErrAlreadySubmitted),
			"UpdatePartialFill": ok("PartiallyFilled"), "CompleteFill": ok("Filled"), "MarkFailed": ok("Failed")},
		"Filled": {"Place": placedErr, "Migrate": placedErr, "ConfirmSubmission": no(oo.ErrAlreadySubmitted),
			"UpdatePartialFill": completed, "CompleteFill": completed, "MarkFailed": completed},
		"Failed": {"Place": placedErr, "Migrate": placedErr, "ConfirmSubmission": completed,
			"UpdatePartialFill": completed, "CompleteFill": completed, "MarkFailed": completed},
		"FailedAfterSubmission": {"Place": placedErr, "Migrate": placedErr, "ConfirmSubmission": completed,
			"UpdatePartialFill": completed, "CompleteFill": completed, "MarkFailed": completed},
	}
	if len(table) != len(history) {
		t.Fatalf("table covers %d states, history %d", len(table), len(history))
	}
	for state, row := range table {
		if len(row) != len(commands) {
			t.Fatalf("%s: row covers %d commands", state, len(row))
		}
		for name, want := range row {
			t.Run(state+"/"+name, func(t *testing.T) {
				l, got, err := when(given(history[state]...), commands[name])
				if want.err != nil {
					thenError(t, got, err, want.err)
					return
				}
				if err != nil || len(got) != 1 || got[0].EventType() != want.event {
					t.Fatalf("got %v %v, want %s", got, err, want.event)
				}
				if l.Status != aggregate.Live {
					t.Fatalf("event failed the order: %s", l.Failure)
				}
			})
		}
	}
}

// Every command on an aggregate that failed reports the stored failure.
func TestEveryCommandOnAFailedAggregateReportsTheFailure(t *testing.T) {
	l := given(submitted()) // a transition before genesis fails the order
	for name, c := range commands {
		_, got, err := when(l, c)
		var fe *aggregate.FailedError
		if !errors.As(err, &fe) || got != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestStateMachineEvents covers every state × event in Evolve: allowed
// transitions reach the expected status, the rest fail the order and keep
// the last valid state.
func TestStateMachineEvents(t *testing.T) {
	events := map[string]aggregate.Event{
		"Placed": placed(), "Migrated": migratedPending(), "Submitted": submitted(),
		"PartiallyFilled": partial("2"), "Filled": filled(), "Failed": failed(),
	}
	// allowed[state][event] is the status the event leads to.
	allowed := map[string]map[string]oo.Status{
		"Uninitialized":   {"Placed": oo.StatusPending, "Migrated": oo.StatusPending},
		"Pending":         {"Submitted": oo.StatusSubmitted, "Failed": oo.StatusFailed},
		"Submitted":       {"PartiallyFilled": oo.StatusPartiallyFilled, "Filled": oo.StatusFilled, "Failed": oo.StatusFailed},
		"PartiallyFilled": {"PartiallyFilled": oo.StatusPartiallyFilled, "Filled": oo.StatusFilled, "Failed": oo.StatusFailed},
	}
	for state, prior := range history {
		for name, e := range events {
			t.Run(state+"/"+name, func(t *testing.T) {
				before := given(prior...)
				l := given(append(append([]aggregate.Event{}, prior...), e)...)
				if l.Version != uint64(len(prior)+1) {
					t.Fatalf("version %d", l.Version)
				}
				if want, ok := allowed[state][name]; ok {
					if l.Status != aggregate.Live || l.State.Status != want {
						t.Fatalf("status %q/%q (%s), want %s", l.Status, l.State.Status, l.Failure, want)
					}
					return
				}
				if l.Status != aggregate.Failed {
					t.Fatalf("invalid transition accepted: %+v", l.State)
				}
				if mustJSON(t, l.State) != mustJSON(t, before.State) {
					t.Fatalf("last valid state changed: %+v", l.State)
				}
			})
		}
	}
}
