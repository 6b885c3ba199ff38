package offchainorder_test

import (
	"testing"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	oo "github.com/hedgeline/hedgeline/processors/offchainorder"
)

func TestConfirmSubmissionOfPendingOrder(t *testing.T) {
	l, got, err := when(given(placed()), oo.ConfirmSubmission{BrokerOrderID: "1004055538153"})
	thenEvents(t, got, err, oo.Submitted{BrokerOrderID: "1004055538153", SubmittedAt: meta.At})
	thenState(t, l, oo.State{
		Status: oo.StatusSubmitted, Symbol: "AAPL", Shares: dec("3"), Direction: market.Buy,
		Broker: market.Schwab, BrokerOrderID: "1004055538153", PlacedAt: placedAt, SubmittedAt: meta.At,
	})
}

func TestConfirmSubmissionOfUnknownOrderIsUninitialized(t *testing.T) {
	_, got, err := when(given(), oo.ConfirmSubmission{BrokerOrderID: "1"})
	thenError(t, got, err, aggregate.ErrUninitialized)
}

func TestConfirmSubmissionRejectsBlankIDs(t *testing.T) {
	for _, id := range []string{"", "  ", " 1004055538153", "1004055538153\n"} {
		_, got, err := when(given(placed()), oo.ConfirmSubmission{BrokerOrderID: id})
		thenError(t, got, err, oo.ErrInvalid)
		thenField(t, err, "broker_order_id")
	}
}

func TestConfirmSubmissionStatusWinsOverInvalidID(t *testing.T) {
	_, got, err := when(given(placed(), submitted()), oo.ConfirmSubmission{})
	thenError(t, got, err, oo.ErrAlreadySubmitted)
}

func TestMarkFailedEndsTheOrder(t *testing.T) {
	for _, state := range []string{"Pending", "Submitted", "PartiallyFilled"} {
		t.Run(state, func(t *testing.T) {
			before := given(history[state]...)
			l, got, err := when(before, oo.MarkFailed{Error: "rejected: market closed"})
			thenEvents(t, got, err, oo.Failed{Error: "rejected: market closed", FailedAt: meta.At})
			want := before.State
			want.Status, want.Error, want.FailedAt = oo.StatusFailed, "rejected: market closed", meta.At
			thenState(t, l, want) // keeps the broker order id and partial fill
		})
	}
}

func TestMarkFailedNeedsAnError(t *testing.T) {
	for _, msg := range []string{"", " \t"} {
		_, got, err := when(given(placed()), oo.MarkFailed{Error: msg})
		thenError(t, got, err, oo.ErrInvalid)
		thenField(t, err, "error")
	}
}
