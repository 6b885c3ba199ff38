package sinks

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/hedgeline/hedgeline/internal/testseed"
	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/onchaintrade"
)

// wantGas is the gas cost worked out with big.Rat, independently of
// gasCost's decimal arithmetic: ETH exact, USD rounded half away from zero
// to 18 places (Rat.FloatString's rounding), as ClickHouse prints them
// ("NULL" when absent or beyond Decimal(38, 18)).
func wantGas(gas uint64, price *uint64, eth *market.PythPrice) (costETH, ethUSD, costUSD string) {
	costETH, ethUSD, costUSD = "NULL", "NULL", "NULL"
	limit := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(20), nil))
	var wei, usdPerETH *big.Rat
	if price != nil {
		wei = new(big.Rat).SetInt(new(big.Int).Mul(new(big.Int).SetUint64(gas), new(big.Int).SetUint64(*price)))
		wei.Quo(wei, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil)))
		costETH = trimDec(wei.FloatString(18))
	}
	if eth != nil {
		v, _ := new(big.Int).SetString(eth.Value, 10)
		usdPerETH = new(big.Rat).SetInt(v)
		scale := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(eth.Expo))), nil))
		if eth.Expo < 0 {
			usdPerETH.Quo(usdPerETH, scale)
		} else {
			usdPerETH.Mul(usdPerETH, scale)
		}
		ethUSD = trimDec(usdPerETH.FloatString(18))
	}
	if wei != nil && usdPerETH != nil {
		usd := new(big.Rat).Mul(wei, usdPerETH)
		if usd.Cmp(limit) < 0 {
			costUSD = trimDec(usd.FloatString(18))
		}
	}
	return costETH, ethUSD, costUSD
}

func abs(v int32) int32 {
	if v < 0 {
		return -v
	}
	return v
}

// trimDec drops trailing fractional zeros, as ClickHouse prints decimals.
func trimDec(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

func str(p interface{ String() string }, ok bool) string {
	if !ok {
		return "NULL"
	}
	return p.String()
}

type gasCase struct {
	name  string
	gas   uint64
	price *uint64
	eth   *market.PythPrice
}

func ethUSD(value string, expo int32) *market.PythPrice {
	return &market.PythPrice{Value: value, Expo: expo, Conf: "1", PublishTime: at(1)}
}

// gasCases are the fixed cases: the README's example, rounding both ways
// and at a half, the largest gas figures, and missing pieces.
func gasCases() []gasCase {
	u := func(v uint64) *uint64 { return &v }
	return []gasCase{
		{"21000 at 1.5 gwei, ETH 3000.12345", 21_000, u(1_500_000_000), ethUSD("300012345000", -8)},
		{"rounded down", 21_001, u(1_000_000_001), ethUSD("300012345678", -8)},
		{"rounded up", 21_001, u(1_000_000_003), ethUSD("300012345679", -8)},
		{"half rounds away from zero", 1, u(1), ethUSD("5", -1)},
		{"below half rounds to zero", 1, u(1), ethUSD("49999999", -8)},
		{"largest gas, no USD", math.MaxInt64, u(math.MaxInt64), nil},
		{"largest gas, USD beyond Decimal(38, 18)", math.MaxInt64, u(math.MaxInt64), ethUSD("300000000000", -8)},
		{"no effective gas price (migrated)", 90_000, nil, nil},
		{"no effective gas price, ETH/USD known", 90_000, nil, ethUSD("300012345000", -8)},
		{"ETH/USD with a positive expo", 50_000, u(2_000_000_000), ethUSD("3", 3)},
	}
}

// TestGasCost: gasCost equals the big.Rat computation on the fixed cases
// and on random ones (HEDGELINE_TEST_SEED replays them).
func TestGasCost(t *testing.T) {
	cases := gasCases()
	rng := rand.New(rand.NewPCG(testseed.Seed(t, "gas figures and ETH/USD readings"), 0))
	for i := range 500 {
		price := rng.Uint64N(1e12) + 1 // up to 1,000 gwei; every other one up to the bound
		if i%2 == 1 {
			price = rng.Uint64N(math.MaxInt64) + 1
		}
		cases = append(cases, gasCase{fmt.Sprintf("random %d", i), rng.Uint64N(30_000_000) + 1, &price,
			ethUSD(fmt.Sprint(rng.Int64N(1e13)+1), -int32(rng.IntN(12)))})
	}
	for _, c := range cases {
		e := &onchaintrade.Enrichment{GasUsed: c.gas, EffectiveGasPrice: c.price, ETHUSDPrice: c.eth, EnrichedAt: at(1)}
		eth, usdPerETH, usd := gasCost(e)
		got := [3]string{str(eth, eth != nil), str(usdPerETH, usdPerETH != nil), str(usd, usd != nil)}
		w1, w2, w3 := wantGas(c.gas, c.price, c.eth)
		if got != [3]string{w1, w2, w3} {
			t.Errorf("%s: gas cost %v, want %v", c.name, got, [3]string{w1, w2, w3})
		}
	}
	if a, b, c := gasCost(nil); a != nil || b != nil || c != nil {
		t.Errorf("gasCost(nil) = %v %v %v", a, b, c)
	}
}

// TestGasCostColumns: the view's gas columns, as ClickHouse stores them,
// equal the independent computation, for trades the projector writes and
// for rows written before migration 0008 (their gas_cost_eth comes from the
// column's DEFAULT, with the same exact arithmetic).
func TestGasCostColumns(t *testing.T) {
	ctx := testCtx(t)
	db := openDB(t, chServer.Addr(), "t_gas_cost_columns", false)
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	var before []Migration
	for _, m := range ms {
		if m.Version < 8 {
			before = append(before, m)
		}
	}
	if _, err := applyMigrations(ctx, db, before); err != nil {
		t.Fatal(err)
	}
	// Rows of the old schema: gas and gas price, or gas alone (migrated).
	cases := gasCases()
	for i, c := range cases {
		price := "NULL"
		if c.price != nil {
			price = fmt.Sprint(*c.price)
		}
		if err := db.conn.Exec(ctx, fmt.Sprintf("INSERT INTO onchain_trade_view (aggregate_id, sequence, gas_used, effective_gas_price) VALUES ('old-%d', 1, %d, %s)",
			i, c.gas, price)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := applyMigrations(ctx, db, ms); err != nil {
		t.Fatal(err)
	}

	// The same cases as trades: witnessed then enriched, or migrated.
	w := newWorld(t)
	for i, c := range cases {
		id := market.TradeID{TxHash: txHash(uint64(100 + i)), LogIndex: 0}
		if c.price == nil {
			gas := c.gas
			w.trade(id, "AAPL", onchaintrade.Migrate{TradeID: id, Symbol: "tAAPL", Amount: dec("1"), Direction: market.Buy,
				PriceUSDC: dec("230"), BlockTimestamp: at(0), GasUsed: &gas, PythPrice: ethUSD("23000000", -5)}, at(5))
			continue
		}
		w.trade(id, "AAPL", onchaintrade.Witness{TradeID: id, Symbol: "tAAPL", Amount: dec("1"), Direction: market.Buy,
			PriceUSDC: dec("230"), BlockNumber: uint64(10 + i), BlockTimestamp: at(i)}, at(i+1))
		w.trade(id, "AAPL", onchaintrade.Enrich{GasUsed: c.gas, EffectiveGasPrice: *c.price, ETHUSDPrice: c.eth}, at(i+2))
	}
	projectOnce(t, db, NewTradesProjection(), w.all(NewTradesProjection().Topic()))

	rows := map[string]row{}
	for _, r := range tableRows(t, db, "onchain_trade_view", "aggregate_id", "state") {
		rows[r["aggregate_id"]] = r
	}
	for i, c := range cases {
		wantETH, wantUSDPerETH, wantUSD := wantGas(c.gas, c.price, c.eth)
		id := market.TradeID{TxHash: txHash(uint64(100 + i)), LogIndex: 0}.String()
		want := row{"gas_cost_eth": wantETH, "eth_usd_price": wantUSDPerETH, "gas_cost_usd": wantUSD}
		if c.price == nil { // migrated: the legacy table had no ETH/USD
			want["eth_usd_price"], want["gas_cost_usd"] = "NULL", "NULL"
		}
		checkRows(t, c.name, []row{rows[id]}, []row{want})
		checkRows(t, c.name+" (row from before 0008)", []row{rows[fmt.Sprintf("old-%d", i)]},
			[]row{{"gas_cost_eth": wantETH, "eth_usd_price": "NULL", "gas_cost_usd": "NULL"}})
	}
}
