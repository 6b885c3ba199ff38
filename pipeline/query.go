package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hedgeline/hedgeline/sinks"
	"github.com/shopspring/decimal"
)

func init() {
	register("pnl", "realized FIFO PnL per base symbol, from ClickHouse", queryCmd("pnl", printPnL))
	register("positions", "positions (net exposure, pending hedge), from ClickHouse", queryCmd("positions", printPositions))
	register("trades", "on-chain fills, from ClickHouse", queryCmd("trades", printTrades))
	register("orders", "broker orders (hedges), from ClickHouse", queryCmd("orders", printOrders))
}

type queryFn func(ctx context.Context, db *sinks.DB, f sinks.Filter, asJSON bool, w io.Writer) error

func queryCmd(name string, fn queryFn) func(context.Context, []string, io.Writer) error {
	return func(ctx context.Context, args []string, stdout io.Writer) error {
		fs := newFlagSet(name, os.Stderr)
		var ch chFlags
		ch.register(fs, "127.0.0.1:9000")
		symbols := fs.String("symbol", "", "only these base symbols, comma-separated (e.g. AAPL,NVDA)")
		from := fs.String("from", "", "from this time (RFC 3339 or YYYY-MM-DD), inclusive")
		to := fs.String("to", "", "until this time (RFC 3339 or YYYY-MM-DD), exclusive")
		limit := fs.Int("limit", sinks.DefaultLimit, "at most this many rows (trades, orders)")
		asJSON := fs.Bool("json", false, "print a JSON array instead of a table")
		if err := parse(fs, args); err != nil {
			return err
		}
		f := sinks.Filter{Limit: *limit}
		for _, s := range strings.Split(*symbols, ",") {
			if s = strings.TrimSpace(s); s != "" {
				f.Symbols = append(f.Symbols, strings.ToUpper(s))
			}
		}
		var err error
		if f.From, err = parseTime("--from", *from); err != nil {
			return err
		}
		if f.To, err = parseTime("--to", *to); err != nil {
			return err
		}
		chc, err := ch.config()
		if err != nil {
			return err
		}
		db, err := sinks.Open(ctx, chc)
		if err != nil {
			return fmt.Errorf("clickhouse %s: %w", ch.addr, err)
		}
		defer db.Close()
		return fn(ctx, db, f, *asJSON, stdout)
	}
}

func parseTime(flagName, v string) (time.Time, error) {
	t, err := sinks.ParseTime(v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", flagName, err)
	}
	return t, nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func table(w io.Writer, header string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.ReplaceAll(header, " ", "\t")+"\t")
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t")+"\t")
	}
	return tw.Flush()
}

func dec(d *decimal.Decimal) string {
	if d == nil {
		return "-"
	}
	return d.String()
}

func ts(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

func printPnL(ctx context.Context, db *sinks.DB, f sinks.Filter, asJSON bool, w io.Writer) error {
	rows, err := db.PnL(ctx, f)
	if err != nil {
		return err
	}
	if asJSON {
		if rows == nil {
			rows = []sinks.PnLSummary{}
		}
		return writeJSON(w, rows)
	}
	var out [][]string
	for _, r := range rows {
		unrealized, mark := "-", "-"
		if r.UnrealizedPnL != nil {
			unrealized = r.UnrealizedPnL.StringFixed(4)
		}
		if r.MarkPrice != nil {
			mark = r.MarkPrice.String() + "(" + r.MarkSource + ")"
		}
		out = append(out, []string{r.Symbol, r.RealizedPnL.StringFixed(4), unrealized, r.TotalPnL.StringFixed(4), mark,
			r.CounterTradePnL.StringFixed(4), r.OnchainNettingPnL.StringFixed(4), r.DirectionalExposurePnL.StringFixed(4),
			r.NetPosition.String(), r.OnchainVolume.String(), r.OffchainVolume.String(), fmt.Sprint(r.Fills)})
	}
	return table(w, "SYMBOL REALIZED_PNL UNREALIZED_PNL TOTAL_PNL MARK COUNTER_TRADE ONCHAIN_NETTING DIRECTIONAL "+
		"NET_POSITION ONCHAIN_VOLUME OFFCHAIN_VOLUME FILLS", out)
}

func printPositions(ctx context.Context, db *sinks.DB, f sinks.Filter, asJSON bool, w io.Writer) error {
	rows, err := db.Positions(ctx, f)
	if err != nil {
		return err
	}
	if asJSON {
		if rows == nil {
			rows = []sinks.Position{}
		}
		return writeJSON(w, rows)
	}
	var out [][]string
	for _, r := range rows {
		pending := "-"
		if r.PendingShares != nil {
			pending = r.PendingDirection + " " + r.PendingShares.String()
			if r.PendingAgeSeconds != nil {
				pending += fmt.Sprintf(" (%.0fs)", *r.PendingAgeSeconds)
			}
		}
		out = append(out, []string{r.Symbol, r.Net.String(), r.AccumulatedLong.String(), r.AccumulatedShort.String(), r.HedgedShares.String(),
			pending, r.ThresholdKind + " " + r.ThresholdValue.String(), dec(r.LastPriceUSDC), ts(&r.LastUpdated), r.Status})
	}
	return table(w, "SYMBOL NET ACCUMULATED_LONG ACCUMULATED_SHORT HEDGED PENDING THRESHOLD LAST_PRICE LAST_UPDATED STATUS", out)
}

func printTrades(ctx context.Context, db *sinks.DB, f sinks.Filter, asJSON bool, w io.Writer) error {
	rows, err := db.Trades(ctx, f)
	if err != nil {
		return err
	}
	if asJSON {
		if rows == nil {
			rows = []sinks.Trade{}
		}
		return writeJSON(w, rows)
	}
	var out [][]string
	for _, r := range rows {
		reverted := "-"
		if r.Reverted {
			reverted = r.RevertReason
		}
		out = append(out, []string{ts(&r.BlockTimestamp), fmt.Sprint(r.BlockNumber), r.TxHash[:10] + "…:" + fmt.Sprint(r.LogIndex),
			r.Symbol, r.Direction, r.Amount.String(), r.PriceUSDC.String(), dec(r.GasCostETH), dec(r.GasCostUSD), reverted})
	}
	return table(w, "BLOCK_TIME BLOCK TRADE SYMBOL DIRECTION AMOUNT PRICE_USDC GAS_ETH GAS_USD REVERTED", out)
}

func printOrders(ctx context.Context, db *sinks.DB, f sinks.Filter, asJSON bool, w io.Writer) error {
	rows, err := db.Orders(ctx, f)
	if err != nil {
		return err
	}
	if asJSON {
		if rows == nil {
			rows = []sinks.Order{}
		}
		return writeJSON(w, rows)
	}
	var out [][]string
	for _, r := range rows {
		latency := "-"
		if r.HedgeLatencyMS != nil {
			latency = fmt.Sprint(*r.HedgeLatencyMS)
		}
		out = append(out, []string{ts(&r.PlacedAt), r.ExecutionID[:8] + "…", r.Symbol, r.Direction, r.Shares.String(), r.Status,
			dec(r.ReferencePrice), dec(r.Price), ts(r.FilledAt), latency, dec(r.SlippageBps), r.Error})
	}
	return table(w, "PLACED EXECUTION SYMBOL SIDE SHARES STATUS REF_PRICE FILL_PRICE FILLED LATENCY_MS SLIPPAGE_BPS ERROR", out)
}
