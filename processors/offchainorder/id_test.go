package offchainorder_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	oo "github.com/hedgeline/hedgeline/processors/offchainorder"
)

func TestIDRoundTrip(t *testing.T) {
	u := uuid.NewSHA1(uuid.NameSpaceOID, []byte("AAPL/7"))
	id := oo.ID(u)
	back, err := oo.ParseID(id)
	if err != nil || back != u {
		t.Fatalf("%s: %v %v", id, back, err)
	}
}

func TestParseIDRejectsNonCanonicalForms(t *testing.T) {
	u := uuid.NewSHA1(uuid.NameSpaceOID, []byte("AAPL/7")).String()
	for _, s := range []string{"", "42", strings.ToUpper(u), "{" + u + "}", "urn:uuid:" + u, strings.ReplaceAll(u, "-", ""), uuid.Nil.String()} {
		if _, err := oo.ParseID(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

// badIDs are aggregate ids no order may be created under: the execution id
// is a canonical UUID (UUIDv5 of symbol:sequence), never a legacy row id.
var badIDs = []string{"not-a-uuid", "", "42", strings.ToUpper(meta.AggregateID), "{" + meta.AggregateID + "}", uuid.Nil.String()}

func TestPlaceRefusesAnExecutionIDThatIsNotAUUID(t *testing.T) {
	for _, id := range badIDs {
		got, err := oo.Decide(given(), place(), to(id))
		thenError(t, got, err, oo.ErrInvalid)
		thenField(t, err, "aggregate_id")
		if id != "" && strings.Contains(err.Error(), id) {
			t.Errorf("%q: error %q quotes the id", id, err)
		}
	}
}

func TestMigrateRefusesAnExecutionIDThatIsNotAUUID(t *testing.T) {
	for _, id := range badIDs {
		got, err := oo.Decide(given(), migrate(oo.StatusPending), to(id))
		thenError(t, got, err, oo.ErrInvalid)
		thenField(t, err, "aggregate_id")
	}
}

// One refusal names every bad field, the id among them.
func TestPlaceReportsABadIDWithTheOtherFields(t *testing.T) {
	_, err := oo.Decide(given(), oo.Place{}, to("not-a-uuid"))
	for _, f := range []string{"aggregate_id", "symbol", "shares", "direction", "broker"} {
		thenField(t, err, f)
	}
}

// The lifecycle is checked before the fields: a command for an order that
// was never placed says so, whatever id it was sent to.
func TestLaterCommandsOnAnUnknownIDAreUninitialized(t *testing.T) {
	got, err := oo.Decide(given(), oo.ConfirmSubmission{BrokerOrderID: "1"}, to("not-a-uuid"))
	thenError(t, got, err, aggregate.ErrUninitialized)
}
