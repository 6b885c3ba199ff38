package offchainorder_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"
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
