package file

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/shopspring/decimal"

	"github.com/hedgeline/hedgeline/market"
)

const (
	hashA = "0xf05d240c99c7c3f8d4562130f655d2b571b1b82643b621987bed3d8aabab304d"
	hashB = "0x1e4bd6d3ce2b4e2d8a9b5f44e6cbb2c1e21d1a7d4b3a5b1c2d3e4f5a6b7c8d9e"
)

func validFields() map[string]any {
	return map[string]any{
		"tx_hash":         hashA,
		"log_index":       3,
		"block_number":    34844164,
		"block_timestamp": "2025-11-04T14:30:00Z",
		"symbol":          "tAAPL",
		"direction":       "Buy",
		"amount":          "0.25",
		"price_usdc":      "228.4135",
	}
}

func lineOf(t *testing.T, m map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func jsonLine(hash string, logIndex, block int, symbol, dir, amount string) string {
	return fmt.Sprintf(`{"tx_hash":%q,"log_index":%d,"block_number":%d,"block_timestamp":"2025-11-04T14:30:00Z","symbol":%q,"direction":%q,"amount":%q,"price_usdc":"100"}`,
		hash, logIndex, block, symbol, dir, amount)
}

func TestParseLineValid(t *testing.T) {
	m := validFields()
	m["tx_hash"] = strings.ToUpper(hashA[2:])
	m["tx_hash"] = "0x" + m["tx_hash"].(string)
	m["block_timestamp"] = "2025-11-04T16:30:00.5+02:00"
	f, err := ParseLine(lineOf(t, m))
	if err != nil {
		t.Fatal(err)
	}
	want := Fill{
		TradeID:        market.TradeID{TxHash: hashA, LogIndex: 3},
		BlockNumber:    34844164,
		BlockTimestamp: time.Date(2025, 11, 4, 14, 30, 0, 5e8, time.UTC),
		Symbol:         market.TokenizedSymbol{Base: "AAPL", Marker: market.MarkerT},
		Direction:      market.Buy,
		Amount:         decimal.RequireFromString("0.25"),
		PriceUSDC:      decimal.RequireFromString("228.4135"),
	}
	if !reflect.DeepEqual(f, want) {
		t.Fatalf("got  %+v\nwant %+v", f, want)
	}
	if f.BlockTimestamp.Location() != time.UTC {
		t.Fatalf("timestamp not UTC: %v", f.BlockTimestamp)
	}
	for sym, base := range map[string]market.Symbol{"NVDAs1": "NVDA", "TSLA0x": "TSLA", "tGOOG": "GOOG"} {
		m := validFields()
		m["symbol"] = sym
		f, err := ParseLine(lineOf(t, m))
		if err != nil || f.Symbol.Base != base || f.Symbol.String() != sym {
			t.Errorf("%s: %+v %v", sym, f.Symbol, err)
		}
	}
	m = validFields()
	m["direction"] = "Sell"
	if f, err := ParseLine(lineOf(t, m)); err != nil || f.Direction != market.Sell {
		t.Fatalf("Sell: %v %v", f.Direction, err)
	}
}

func TestParseLineFieldErrors(t *testing.T) {
	const missing = "\x00missing"
	cases := []struct {
		field   string
		value   any
		mention string
	}{
		{"tx_hash", missing, "missing"},
		{"tx_hash", nil, "missing"},
		{"tx_hash", "0x1234", "0x1234"},
		{"tx_hash", "0x" + strings.Repeat("g", 64), "non-hex"},
		{"tx_hash", 12, "must be a string"},
		{"log_index", missing, "missing"},
		{"log_index", -1, "-1"},
		{"log_index", 1.5, "1.5"},
		{"log_index", "3", `"3"`},
		{"block_number", missing, "missing"},
		{"block_number", 0, "greater than 0"},
		{"block_number", "34844164", "non-negative integer"},
		{"block_timestamp", missing, "missing"},
		{"block_timestamp", "2025-11-04 14:30:00", "RFC 3339"},
		{"block_timestamp", "0001-01-01T00:00:00Z", "zero time"},
		{"block_timestamp", 1762266600, "must be a string"},
		{"symbol", missing, "missing"},
		{"symbol", "AAPL", "not a tokenized equity"},
		{"symbol", "USDC", "USDC"},
		{"symbol", "t", "not a tokenized equity"},
		{"direction", missing, "missing"},
		{"direction", "Hold", "Hold"},
		{"amount", missing, "missing"},
		{"amount", 0.25, "amount must be a decimal string"},
		{"amount", 1, "amount must be a decimal string"},
		{"amount", "0", "amount must be positive"},
		{"amount", "-0.5", "amount must be positive"},
		{"amount", "1e3", "amount must be a decimal string"},
		{"amount", "1e999999999", "amount must be a decimal string"},
		{"amount", ".5", "amount must be a decimal string"},
		{"amount", "0.0000000000000000001", "fractional digits"},
		{"amount", "", "amount must be a decimal string"},
		{"price_usdc", missing, "missing"},
		{"price_usdc", 228.41, "price_usdc must be a decimal string"},
		{"price_usdc", "0", "price_usdc must be positive"},
		{"price_usdc", "abc", "price_usdc must be a decimal string"},
		{"price_usdc", "100000000000000000000", "integer digits"},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s=%v", c.field, c.value), func(t *testing.T) {
			m := validFields()
			if c.value == missing {
				delete(m, c.field)
			} else {
				m[c.field] = c.value
			}
			_, err := ParseLine(lineOf(t, m))
			if err == nil {
				t.Fatal("accepted")
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != c.field {
				t.Fatalf("err = %v, want a FieldError for %s", err, c.field)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, c.field) || !strings.Contains(msg, c.mention) {
				t.Fatalf("error %q does not start with %q and mention %q", msg, c.field, c.mention)
			}
			if c.value == missing && !errors.Is(err, ErrMissing) {
				t.Fatalf("missing field: %v is not ErrMissing", err)
			}
		})
	}
}

func TestParseLineReportsEveryBadField(t *testing.T) {
	m := validFields()
	m["amount"] = 0.25
	m["symbol"] = "AAPL"
	m["block_number"] = 0
	_, err := ParseLine(lineOf(t, m))
	msg := fmt.Sprint(err)
	for _, f := range []string{"amount", "symbol", "block_number"} {
		if !strings.Contains(msg, f) {
			t.Errorf("%q does not name %s", msg, f)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("multi-line error %q", msg)
	}
}

func TestParseLineShape(t *testing.T) {
	good := string(lineOf(t, validFields()))
	cases := map[string]struct{ line, mention string }{
		"unknown field":  {strings.Replace(good, `"amount"`, `"gas_used":21000,"amount"`, 1), `unknown field "gas_used"`},
		"repeated field": {strings.Replace(good, `"amount":"0.25"`, `"amount":"0.25","amount":"100"`, 1), `repeated field "amount"`},
		"key case":       {strings.Replace(good, `"amount"`, `"Amount"`, 1), `unknown field "Amount"`},
		"trailing data":  {good + ` {}`, "trailing data"},
		"array":          {`[1,2]`, "want an object"},
		"not JSON":       {`tx_hash=0x1`, "invalid JSON"},
		"truncated":      {good[:len(good)-5], "invalid JSON"},
		"empty":          {``, "invalid JSON"},
	}
	for name, c := range cases {
		if _, err := ParseLine([]byte(c.line)); err == nil || !strings.Contains(err.Error(), c.mention) {
			t.Errorf("%s: err = %v, want mention of %q", name, err, c.mention)
		}
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	f, err := ParseLine(lineOf(t, validFields()))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"tx_hash":"` + hashA + `","log_index":3,"block_number":34844164,"block_timestamp":"2025-11-04T14:30:00Z",` +
		`"symbol":"tAAPL","direction":"Buy","amount":"0.25","price_usdc":"228.4135"}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	back, err := ParseLine(b)
	if err != nil || !reflect.DeepEqual(back, f) {
		t.Fatalf("round trip: %+v %v", back, err)
	}
}

const mixed = "\n" + // 1 blank
	`{"tx_hash":"` + hashA + `","log_index":1,"block_number":10,"block_timestamp":"2025-11-04T14:30:00Z","symbol":"tAAPL","direction":"Buy","amount":"1","price_usdc":"228"}` + "\r\n" + // 2 ok
	`{"tx_hash":"` + hashA + `","log_index":1,"block_number":10,"block_timestamp":"2025-11-04T14:30:00Z","symbol":"tAAPL","direction":"Sell","amount":"2","price_usdc":"228"}` + "\n" + // 3 duplicate of 2
	"   \t\n" + // 4 blank
	`{"tx_hash":"` + hashA + `","log_index":2,"block_number":10,"block_timestamp":"2025-11-04T14:30:00Z","symbol":"AAPL","direction":"Buy","amount":"1","price_usdc":"228"}` + "\n" + // 5 bad symbol
	`{"tx_hash":"` + hashB + `","log_index":0,"block_number":9,"block_timestamp":"2025-11-04T14:29:58Z","symbol":"NVDAs1","direction":"Sell","amount":"0.5","price_usdc":"181.2"}` + "\n" + // 6 ok
	`{"tx_hash":"` + hashB + `","log_index":1,"block_number":9,"block_timestamp":"2025-11-04T14:29:58Z","symbol":"NVDAs1","direction":"Sell","amount":0.5,"price_usdc":"181.2"}` // 7 number, no final newline

func TestReadLenient(t *testing.T) {
	fills, bad, err := Read(strings.NewReader(mixed), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(fills) != 2 || fills[0].TradeID.TxHash != hashA || fills[0].Direction != market.Buy || fills[1].TradeID.TxHash != hashB {
		t.Fatalf("fills = %+v", fills)
	}
	if len(bad) != 3 {
		t.Fatalf("bad = %v", bad)
	}
	wants := []struct {
		line    int
		mention string
	}{{3, "duplicate of line 2"}, {5, "symbol"}, {7, "amount must be a decimal string"}}
	for i, w := range wants {
		if bad[i].Line != w.line || !strings.Contains(bad[i].Error(), w.mention) ||
			!strings.HasPrefix(bad[i].Error(), fmt.Sprintf("line %d: ", w.line)) {
			t.Errorf("bad[%d] = %q, want line %d mentioning %q", i, bad[i], w.line, w.mention)
		}
	}
	if !errors.Is(bad[0], ErrDuplicate) || !strings.Contains(bad[0].Error(), hashA+":1") {
		t.Errorf("duplicate error %v", bad[0])
	}
	var fe *FieldError
	if !errors.As(bad[1], &fe) || fe.Field != "symbol" {
		t.Errorf("bad symbol error %v", bad[1])
	}
}

func TestReadStrict(t *testing.T) {
	fills, bad, err := Read(strings.NewReader(mixed), true)
	var le LineError
	if !errors.As(err, &le) || le.Line != 3 || !errors.Is(err, ErrDuplicate) {
		t.Fatalf("err = %v", err)
	}
	if fills != nil || bad != nil {
		t.Fatalf("strict failure returned data: %v %v", fills, bad)
	}
	if err.Error() != "line 3: trade "+hashA+":1: duplicate of line 2" {
		t.Fatalf("message %q", err)
	}
	// A clean file reads the same in both modes.
	clean := jsonLine(hashA, 1, 5, "tAAPL", "Buy", "1") + "\n" + jsonLine(hashA, 2, 5, "TSLA0x", "Sell", "2") + "\n\n"
	for _, strict := range []bool{true, false} {
		fills, bad, err := Read(strings.NewReader(clean), strict)
		if err != nil || len(bad) != 0 || len(fills) != 2 {
			t.Fatalf("strict=%v: %d fills %v %v", strict, len(fills), bad, err)
		}
	}
	// Empty input.
	fills, bad, err = Read(strings.NewReader(""), true)
	if err != nil || fills != nil || bad != nil {
		t.Fatalf("empty: %v %v %v", fills, bad, err)
	}
}

func TestReadLongLines(t *testing.T) {
	base := jsonLine(hashA, 1, 5, "tAAPL", "Buy", "1")
	// Whitespace inside the object pads a valid line to exactly the limit.
	fit := base[:len(base)-1] + strings.Repeat(" ", MaxLineBytes-len(base)) + "}"
	if len(fit) != MaxLineBytes {
		t.Fatal(len(fit))
	}
	over := fit + " "
	next := jsonLine(hashA, 2, 6, "tAAPL", "Sell", "1")

	fills, bad, err := Read(strings.NewReader(fit+"\r\n"+over+"\n"+next), false)
	if err != nil || len(fills) != 2 || len(bad) != 1 || bad[0].Line != 2 || !errors.Is(bad[0], ErrTooLong) {
		t.Fatalf("fills %d bad %v err %v", len(fills), bad, err)
	}
	if fills[1].TradeID.LogIndex != 2 {
		t.Fatalf("line after the long one: %+v", fills[1])
	}
	// An over-long last line without a newline, read one byte at a time.
	_, bad, err = Read(iotest.OneByteReader(strings.NewReader(next+"\n"+over)), false)
	if err != nil || len(bad) != 1 || bad[0].Line != 2 {
		t.Fatalf("bad %v err %v", bad, err)
	}
	if _, _, err := Read(strings.NewReader(over), true); !errors.Is(err, ErrTooLong) {
		t.Fatalf("strict: %v", err)
	}
}

func TestReadIOError(t *testing.T) {
	boom := errors.New("disk on fire")
	r := io.MultiReader(strings.NewReader(jsonLine(hashA, 1, 5, "tAAPL", "Buy", "1")+"\n"), iotest.ErrReader(boom))
	fills, _, err := Read(r, false)
	if !errors.Is(err, boom) || len(fills) != 1 {
		t.Fatalf("fills %d err %v", len(fills), err)
	}
	var le LineError
	if errors.As(err, &le) {
		t.Fatalf("an I/O error is not a line error: %v", err)
	}
}

func TestSortChainOrder(t *testing.T) {
	mk := func(block, logIndex uint64, tag string) Fill {
		return Fill{BlockNumber: block, TradeID: market.TradeID{TxHash: tag, LogIndex: logIndex}}
	}
	fills := []Fill{
		mk(12, 0, "a"), mk(10, 7, "b"), mk(10, 2, "c"), mk(11, 1, "d"),
		mk(10, 2, "e"), // tie with c: keeps file order
		mk(9, 100, "f"),
	}
	SortChainOrder(fills)
	var got []string
	for _, f := range fills {
		got = append(got, f.TradeID.TxHash)
	}
	if strings.Join(got, "") != "fcebda" {
		t.Fatalf("order %v", got)
	}
}

func TestParseLineTxHashCheckedWithBadLogIndex(t *testing.T) {
	m := validFields()
	m["tx_hash"] = "0x12"
	m["log_index"] = -1
	_, err := ParseLine(lineOf(t, m))
	if msg := fmt.Sprint(err); !strings.Contains(msg, "tx_hash") || !strings.Contains(msg, "log_index") {
		t.Fatalf("%q does not name both fields", msg)
	}
}
