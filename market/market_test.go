package market

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

func TestParseTokenized(t *testing.T) {
	ok := map[string]TokenizedSymbol{
		"tAAPL":  {Base: "AAPL", Marker: MarkerT},
		"AAPL0x": {Base: "AAPL", Marker: MarkerZeroX},
		"NVDAs1": {Base: "NVDA", Marker: MarkerS1},
		"tSPLG":  {Base: "SPLG", Marker: MarkerT},
	}
	for in, want := range ok {
		got, err := ParseTokenized(in)
		if err != nil || got != want {
			t.Errorf("ParseTokenized(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if got.String() != in {
			t.Errorf("%+v.String() = %q, want %q", got, got.String(), in)
		}
	}
	for _, in := range []string{"USDC", "AAPL", "t", "0x", "s1", "", "taapl", "tAA PL"} {
		if _, err := ParseTokenized(in); !errors.Is(err, ErrNotTokenizedEquity) {
			t.Errorf("ParseTokenized(%q) err = %v, want ErrNotTokenizedEquity", in, err)
		}
	}
}

func TestNewSymbol(t *testing.T) {
	if _, err := NewSymbol(""); !errors.Is(err, ErrEmptySymbol) {
		t.Fatalf("empty: %v", err)
	}
	for _, bad := range []string{"aapl", "AAPL!", "ABCDEFGHIJK"} {
		if _, err := NewSymbol(bad); !errors.Is(err, ErrInvalidSymbol) {
			t.Errorf("NewSymbol(%q) err = %v", bad, err)
		}
	}
	if s, err := NewSymbol("BRK.B"); err != nil || s != "BRK.B" {
		t.Fatalf("BRK.B: %v %v", s, err)
	}
}

func TestDirection(t *testing.T) {
	for in, want := range map[string]Direction{"Buy": Buy, "SELL": Sell, "sell": Sell} {
		if got, err := ParseDirection(in); err != nil || got != want {
			t.Errorf("ParseDirection(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseDirection("Hold"); err == nil || !strings.Contains(err.Error(), "Hold") {
		t.Fatalf("want error naming the input, got %v", err)
	}
	if Buy.Opposite() != Sell || Sell.Opposite() != Buy {
		t.Fatal("Opposite")
	}
	if !Sell.Signed(decimal.RequireFromString("1.5")).Equal(decimal.RequireFromString("-1.5")) {
		t.Fatal("Signed")
	}
	var d Direction
	if err := json.Unmarshal([]byte(`"Short"`), &d); err == nil {
		t.Fatal("invalid JSON direction accepted")
	}
}

func TestTradeID(t *testing.T) {
	h := "0xF05D240C99C7C3F8D4562130F655D2B571B1B82643B621987BED3D8AABAB304D"
	id, err := NewTradeID(h, 5)
	if err != nil {
		t.Fatal(err)
	}
	if id.String() != strings.ToLower(h)+":5" {
		t.Fatalf("String = %s", id)
	}
	back, err := ParseTradeID(id.String())
	if err != nil || back != id {
		t.Fatalf("round trip: %v %v", back, err)
	}
	for _, bad := range []string{"0xabc:1", h + ":x", h, "0x" + strings.Repeat("g", 64) + ":1"} {
		if _, err := ParseTradeID(bad); err == nil {
			t.Errorf("ParseTradeID(%q) accepted", bad)
		}
	}
}

func TestAmountBounds(t *testing.T) {
	big := decimal.RequireFromString("99999999999999999999") // 20 digits: the max
	if err := CheckAmount(big); err != nil {
		t.Fatalf("max: %v", err)
	}
	if _, err := Add(big, decimal.NewFromInt(1)); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("overflow not reported: %v", err)
	}
	var ae *ArithmeticError
	if _, err := Sub(big.Neg(), decimal.NewFromInt(1)); !errors.As(err, &ae) || ae.Op != "-" {
		t.Fatalf("want ArithmeticError, got %v", err)
	}
	if err := CheckAmount(decimal.RequireFromString("0.0000000000000000001")); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("19 fractional digits accepted: %v", err)
	}
	if err := PositiveAmount("amount", decimal.Zero); err == nil || !strings.Contains(err.Error(), "amount") {
		t.Fatalf("zero amount: %v", err)
	}
}

func TestThreshold(t *testing.T) {
	if _, err := SharesThreshold(decimal.Zero); !errors.Is(err, ErrZeroThreshold) {
		t.Fatalf("zero shares: %v", err)
	}
	if _, err := DollarThreshold(decimal.NewFromInt(-2)); !errors.Is(err, ErrNegativeThreshold) {
		t.Fatalf("negative dollars: %v", err)
	}
	th, _ := DollarThreshold(decimal.NewFromInt(2))
	b, _ := json.Marshal(th)
	if string(b) != `{"dollars":"2"}` {
		t.Fatalf("json %s", b)
	}
	var back Threshold
	if err := json.Unmarshal(b, &back); err != nil || !back.Dollars.Equal(*th.Dollars) {
		t.Fatalf("round trip %v %v", back, err)
	}
	for _, bad := range []string{`{}`, `{"shares":"1","dollars":"2"}`, `{"shares":"0"}`} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("threshold %s accepted", bad)
		}
	}
}

func TestPythPrice(t *testing.T) {
	// DOMAIN.md 6.6 vector 4: COIN at block 47198127.
	p := PythPrice{Value: "15445005", Expo: -5, Conf: "21005"}
	v, err := p.Price()
	if err != nil || !v.Equal(decimal.RequireFromString("154.45005")) {
		t.Fatalf("price %v %v", v, err)
	}
}

func TestParseBroker(t *testing.T) {
	for in, want := range map[string]Broker{"dry-run": DryRun, "dry_run": DryRun, "alpaca": Alpaca, "schwab": Schwab} {
		if got, err := ParseBroker(in); err != nil || got != want {
			t.Errorf("ParseBroker(%q) = %v %v", in, got, err)
		}
	}
	if _, err := ParseBroker("ibkr"); err == nil {
		t.Fatal("unknown broker accepted")
	}
	if !DefaultExecution(Alpaca).Fractional || DefaultExecution(Schwab).Fractional {
		t.Fatal("DefaultExecution fractional flags")
	}
}

func TestThresholdRejectsUnknownFields(t *testing.T) {
	var th Threshold
	if err := json.Unmarshal([]byte(`{"shares":"1","dolars":"5"}`), &th); err == nil {
		t.Fatal("misspelled field accepted")
	}
}
