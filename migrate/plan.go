package migrate

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/processors/aggregate"
	"github.com/hedgeline/hedgeline/processors/brokerauth"
	"github.com/hedgeline/hedgeline/processors/offchainorder"
	"github.com/hedgeline/hedgeline/processors/onchaintrade"
	"github.com/hedgeline/hedgeline/processors/position"
	"github.com/hedgeline/hedgeline/stack"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/shopspring/decimal"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Options configure the mapping.
type Options struct {
	// Threshold and Execution open every migrated position (the legacy
	// bot's were hard-coded: one whole share at Schwab).
	Threshold market.Threshold
	Execution market.Execution
	// Key is the key the broker-auth stage runs with; LegacyKey the legacy
	// bot's ENCRYPTION_KEY. Tokens that open under Key are migrated as
	// they are; tokens that open only under LegacyKey are re-encrypted
	// under Key. Both zero: the tokens are migrated unchecked.
	Key, LegacyKey brokerauth.Key
	// At is the command issue time (the Migrated events' migrated_at).
	At time.Time
	// Progress, if set, is told about each row read.
	Progress func(table string, done, total int)
}

// Item is one command the migration produces.
type Item struct {
	Table         string // legacy table, or TableFills
	Row           string // legacy row id (or symbol)
	AggregateType string
	AggregateID   string
	CommandID     string
	Command       aggregate.Command
	Record        *kgo.Record
}

// Refusal is a legacy row the migration does not carry over.
type Refusal struct {
	Table  string `json:"table"`
	Row    string `json:"row"`
	Reason string `json:"reason"`
}

func (r Refusal) String() string { return fmt.Sprintf("%s row %s: %s", r.Table, r.Row, r.Reason) }

// TableCount is one legacy table's rows and what became of them.
type TableCount struct {
	Table    string `json:"table"`
	Rows     int    `json:"rows"`
	Commands int    `json:"commands"`
	Refused  int    `json:"refused"`
	// Note says why a table is not migrated (or how it was used).
	Note string `json:"note,omitempty"`
}

// Plan is everything a migration would produce, in produce order.
type Plan struct {
	Schema  Schema
	Tables  []TableCount
	Items   []Item
	Refused []Refusal
	// Positions is what each migrated position must be, by base symbol
	// (the aggregate's own rules applied to its commands).
	Positions map[market.Symbol]position.State
	// LegacyPnL is the legacy reporter's last cumulative PnL per base
	// symbol (metrics_pnl; nil when the table is absent).
	LegacyPnL map[market.Symbol]decimal.Decimal
}

// Count returns the plan's line for table.
func (p *Plan) Count(table string) *TableCount {
	for i := range p.Tables {
		if p.Tables[i].Table == table {
			return &p.Tables[i]
		}
	}
	p.Tables = append(p.Tables, TableCount{Table: table})
	return &p.Tables[len(p.Tables)-1]
}

// fill is one legacy fill of a base symbol, for RecordMigratedFill.
type fill struct {
	base  market.Symbol
	at    time.Time
	venue string
	id    int64
	cmd   position.RecordMigratedFill
}

// order is a mapped offchain row, for the position's pending hedge.
type order struct {
	id     string
	status offchainorder.Status
	shares decimal.Decimal
	dir    market.Direction
}

// Build reads the legacy database and maps every row.
func Build(ctx context.Context, d *DB, opt Options) (*Plan, error) {
	if opt.At.IsZero() {
		opt.At = time.Now().UTC()
	}
	b := &builder{d: d, opt: opt, p: &Plan{Schema: d.Schema, Positions: map[market.Symbol]position.State{}},
		orders: map[int64]order{}}
	steps := []func(context.Context) error{b.onchain, b.offchain, b.positions, b.auth, b.pnl, b.notes}
	for _, s := range steps {
		if err := s(ctx); err != nil {
			return nil, err
		}
	}
	return b.p, nil
}

type builder struct {
	d      *DB
	opt    Options
	p      *Plan
	fills  []fill
	orders map[int64]order
}

func (b *builder) refuse(table, rowID string, err error) {
	b.p.Refused = append(b.p.Refused, Refusal{Table: table, Row: rowID, Reason: err.Error()})
	b.p.Count(table).Refused++
}

func (b *builder) add(it Item, env topics.CommandEnvelope, key string) error {
	env.AggregateType, env.AggregateID, env.CommandID = it.AggregateType, it.AggregateID, it.CommandID
	env.IssuedAt, env.CorrelationID, env.CausationID = b.opt.At, correlation(it.Table, it.Row), "legacy-migration"
	rec, err := topics.CommandRecord(env, it.Command, key)
	if err != nil {
		return err
	}
	it.Record = rec
	b.p.Items = append(b.p.Items, it)
	b.p.Count(it.Table).Commands++
	return nil
}

// check decides c against an empty aggregate with the aggregate's own
// rules, so a row the aggregate would refuse is refused here, named.
func check[S any](def aggregate.Definition[S], id string, c aggregate.Command, at time.Time) (aggregate.Lifecycle[S], error) {
	l, _, err := aggregate.Execute(def, aggregate.Lifecycle[S]{}, c, aggregate.Meta{AggregateID: id, CommandID: "check", At: at})
	return l, err
}

func (b *builder) progress(table string, done, total int) {
	if b.opt.Progress != nil {
		b.opt.Progress(table, done, total)
	}
}

func direction(v any) (market.Direction, error) {
	switch strings.ToUpper(strings.TrimSpace(text(v))) {
	case "BUY":
		return market.Buy, nil
	case "SELL":
		return market.Sell, nil
	}
	return "", fmt.Errorf("direction %q is not BUY or SELL", clip(text(v)))
}

func positiveDec(field string, v any) (decimal.Decimal, error) {
	d, err := Decimal(v)
	if err != nil {
		return d, fmt.Errorf("%s %w", field, err)
	}
	if d.IsNegative() {
		return d, fmt.Errorf("negative %s %s", field, d)
	}
	if d.IsZero() {
		return d, fmt.Errorf("%s is zero", field)
	}
	return d, nil
}

func (b *builder) onchain(ctx context.Context) error {
	s := b.d.Schema
	if !s.Has(TableOnchain) {
		return nil
	}
	total, err := b.d.Count(ctx, TableOnchain)
	if err != nil {
		return err
	}
	b.p.Count(TableOnchain).Rows = total
	blocks, err := b.d.blockNumbers(ctx)
	if err != nil {
		return err
	}
	done := 0
	err = b.d.each(ctx, `SELECT * FROM onchain_trades ORDER BY id`, func(r row) error {
		done++
		b.progress(TableOnchain, done, total)
		id, _ := integer(r.get("id"))
		rowID := strconv.FormatInt(id, 10)
		c, base, at, err := onchainCommand(r, blocks)
		if err == nil {
			_, err = check(onchaintrade.Definition, "", c, b.opt.At)
		}
		if err != nil {
			b.refuse(TableOnchain, rowID, err)
			return nil
		}
		tid, _ := onchaintrade.ID(c.TradeID)
		if err := b.add(Item{Table: TableOnchain, Row: rowID, AggregateType: topics.OnChainTrade, AggregateID: tid,
			CommandID: CommandID(TableOnchain, rowID, c.CommandType()), Command: c},
			topics.CommandEnvelope{}, topics.SymbolKey(string(base), tid)); err != nil {
			return err
		}
		b.fills = append(b.fills, fill{base: base, at: at, venue: position.VenueOnChain, id: id, cmd: position.RecordMigratedFill{
			Symbol: base, Venue: position.VenueOnChain, SourceID: tid, Direction: c.Direction,
			Amount: c.Amount, PriceUSDC: c.PriceUSDC, At: at}})
		return nil
	})
	if err != nil {
		return fmt.Errorf("read %s: %w", TableOnchain, err)
	}
	return nil
}

// onchainCommand maps an onchain_trades row; at is its place in time
// (block_timestamp, else created_at).
func onchainCommand(r row, blocks map[string]uint64) (c onchaintrade.Migrate, base market.Symbol, at time.Time, err error) {
	sym := strings.TrimSpace(text(r.get("symbol")))
	if sym == "" {
		return c, "", at, errors.New("empty symbol")
	}
	tok, err := market.ParseTokenized(sym)
	if err != nil {
		return c, "", at, fmt.Errorf("symbol %q: %w", clip(sym), err)
	}
	li, err := integer(r.get("log_index"))
	if err != nil || li < 0 {
		return c, "", at, fmt.Errorf("bad log_index %v", r.get("log_index"))
	}
	tid, err := market.NewTradeID(text(r.get("tx_hash")), uint64(li))
	if err != nil {
		return c, "", at, fmt.Errorf("bad tx hash %q: %w", clip(text(r.get("tx_hash"))), err)
	}
	var errs []error
	amount, err := positiveDec("amount", r.get("amount"))
	errs = append(errs, err)
	price, err := positiveDec("price_usdc", r.get("price_usdc"))
	errs = append(errs, err)
	dir, err := direction(r.get("direction"))
	errs = append(errs, err)
	at, ok, err := Time(r.get("block_timestamp"))
	errs = append(errs, wrap("block_timestamp", err))
	if !ok {
		var created bool
		at, created, err = Time(r.get("created_at"))
		errs = append(errs, wrap("created_at", err))
		if !created && err == nil {
			errs = append(errs, errors.New("neither block_timestamp nor created_at"))
		}
	}
	c = onchaintrade.Migrate{TradeID: tid, Symbol: sym, Amount: amount, Direction: dir, PriceUSDC: price,
		BlockNumber: blocks[tid.String()], BlockTimestamp: at}
	gas, err := optUint("gas_used", r.get("gas_used"))
	errs = append(errs, err)
	gasPrice, err := optUint("effective_gas_price", r.get("effective_gas_price"))
	errs = append(errs, err)
	if gasPrice != nil && gas == nil {
		errs = append(errs, errors.New("effective_gas_price without gas_used"))
	}
	c.GasUsed, c.EffectiveGasPrice = gas, gasPrice
	c.PythPrice, err = pyth(r)
	errs = append(errs, err)
	return c, tok.Base, at, errors.Join(errs...)
}

func wrap(field string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", field, err)
}

// optUint reads a nullable non-negative integer; 0 is "not recorded".
func optUint(field string, v any) (*uint64, error) {
	if v == nil {
		return nil, nil
	}
	n, err := integer(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	if n < 0 {
		return nil, fmt.Errorf("negative %s %d", field, n)
	}
	if n == 0 {
		return nil, nil
	}
	u := uint64(n)
	return &u, nil
}

// pyth maps the four legacy Pyth columns: all NULL (no reading) or all
// set. pyth_price and pyth_confidence are the scaled values as REAL; the
// event keeps Pyth's raw integers, value = price / 10^exponent.
func pyth(r row) (*market.PythPrice, error) {
	vals := []any{r.get("pyth_price"), r.get("pyth_exponent"), r.get("pyth_publish_time")}
	n := 0
	for _, v := range vals {
		if v != nil {
			n++
		}
	}
	if n == 0 {
		return nil, nil
	}
	if n != len(vals) {
		return nil, errors.New("inconsistent pyth columns: pyth_price, pyth_exponent and pyth_publish_time must be all set or all NULL")
	}
	expo, err := integer(vals[1])
	if err != nil || expo < -38 || expo > 38 {
		return nil, fmt.Errorf("bad pyth_exponent %v", vals[1])
	}
	price, err := Decimal(vals[0])
	if err != nil {
		return nil, fmt.Errorf("pyth_price: %w", err)
	}
	// The bot computed the REAL as value x 10^expo in float64, which may
	// miss the exact decimal by an ulp (150.10999999999999): the raw value
	// is the nearest integer, unless it is not near one at all.
	exact := price.Shift(int32(-expo))
	raw := exact.Round(0)
	if raw.Sub(exact).Abs().GreaterThan(decimal.New(1, -3)) {
		return nil, fmt.Errorf("pyth_price %s is not a whole multiple of 10^%d", price, expo)
	}
	conf := decimal.Zero
	if v := r.get("pyth_confidence"); v != nil {
		if conf, err = Decimal(v); err != nil {
			return nil, fmt.Errorf("pyth_confidence: %w", err)
		}
		if conf.IsNegative() {
			return nil, fmt.Errorf("negative pyth_confidence %s", conf)
		}
	}
	rawConf := conf.Shift(int32(-expo)).Round(0)
	at, _, err := Time(vals[2])
	if err != nil {
		return nil, fmt.Errorf("pyth_publish_time: %w", err)
	}
	return &market.PythPrice{Value: raw.String(), Expo: int32(expo), Conf: rawConf.String(), PublishTime: at}, nil
}

func (b *builder) offchain(ctx context.Context) error {
	t := b.d.Schema.Offchain
	if t == "" {
		return nil
	}
	total, err := b.d.Count(ctx, t)
	if err != nil {
		return err
	}
	b.p.Count(t).Rows = total
	done := 0
	err = b.d.each(ctx, `SELECT * FROM "`+t+`" ORDER BY id`, func(r row) error {
		done++
		b.progress(t, done, total)
		id, _ := integer(r.get("id"))
		rowID := strconv.FormatInt(id, 10)
		c, err := offchainCommand(r, id)
		oid := OrderID(id).String()
		if err == nil {
			_, err = check(offchainorder.Definition, oid, c, b.opt.At)
		}
		if err != nil {
			b.refuse(t, rowID, err)
			return nil
		}
		b.orders[id] = order{id: oid, status: c.Status, shares: c.Shares, dir: c.Direction}
		if err := b.add(Item{Table: t, Row: rowID, AggregateType: topics.OffchainOrder, AggregateID: oid,
			CommandID: CommandID(t, rowID, c.CommandType()), Command: c}, topics.CommandEnvelope{}, oid); err != nil {
			return err
		}
		if c.Status == offchainorder.StatusFilled {
			b.fills = append(b.fills, fill{base: c.Symbol, at: *c.ExecutedAt, venue: position.VenueOffChain, id: id,
				cmd: position.RecordMigratedFill{Symbol: c.Symbol, Venue: position.VenueOffChain, SourceID: oid,
					Direction: c.Direction, Amount: c.Shares, PriceUSDC: *c.Price, At: *c.ExecutedAt}})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read %s: %w", t, err)
	}
	return nil
}

// offchainCommand maps an offchain_trades (schwab_executions) row,
// enforcing the legacy CHECK that ties status to the other columns (a
// hand-edited database may lack it). A PENDING row that has a broker
// order id was placed (the legacy bot never moved PENDING to SUBMITTED
// before #210): it is migrated as Submitted, so the order manager polls
// it by that id.
func offchainCommand(r row, id int64) (offchainorder.Migrate, error) {
	var errs []error
	sym := strings.TrimSpace(text(r.get("symbol")))
	var base market.Symbol
	if sym == "" {
		errs = append(errs, errors.New("empty symbol"))
	} else if s, err := position.BaseSymbol(sym); err != nil {
		errs = append(errs, fmt.Errorf("symbol %q: %w", clip(sym), err))
	} else {
		base = s
	}
	shares, err := positiveDec("shares", r.get("shares"))
	errs = append(errs, err)
	dir, err := direction(r.get("direction"))
	errs = append(errs, err)
	broker := market.Schwab
	if v := text(r.get("broker")); v != "" {
		if broker, err = market.ParseBroker(v); err != nil {
			errs = append(errs, fmt.Errorf("broker %q: %w", clip(v), err))
		}
	}
	orderID := strings.TrimSpace(text(r.get("broker_order_id")))
	if orderID == "" {
		orderID = strings.TrimSpace(text(r.get("order_id")))
	}
	executed, hasExec, err := Time(r.get("executed_at"))
	errs = append(errs, wrap("executed_at", err))
	status := strings.ToUpper(strings.TrimSpace(text(r.get("status"))))
	c := offchainorder.Migrate{Symbol: base, Shares: shares, Direction: dir, Broker: broker, LegacyID: uint64(max(id, 0))}
	if hasExec {
		c.ExecutedAt = &executed
	}
	if orderID != "" {
		c.BrokerOrderID = &orderID
	}
	inconsistent := func(why string) { errs = append(errs, fmt.Errorf("inconsistent status/columns: %s %s", status, why)) }
	switch status {
	case "PENDING", "SUBMITTED":
		c.Status = offchainorder.StatusSubmitted
		if orderID == "" {
			if status == "SUBMITTED" {
				inconsistent("without a broker order id")
			}
			c.Status = offchainorder.StatusPending
		}
		if hasExec {
			inconsistent("with executed_at")
		}
	case "FILLED":
		c.Status = offchainorder.StatusFilled
		if orderID == "" {
			inconsistent("without a broker order id")
		}
		if !hasExec {
			inconsistent("without executed_at")
		}
		cents, err := Decimal(r.get("price_cents"))
		switch {
		case err != nil:
			inconsistent("without price_cents")
		case !cents.IsPositive():
			inconsistent("with price_cents " + cents.String())
		default:
			p := cents.Shift(-2)
			c.Price = &p
		}
	case "FAILED":
		c.Status = offchainorder.StatusFailed
		if !hasExec {
			inconsistent("without executed_at")
		}
		c.Error = fmt.Sprintf("legacy offchain_trades row %d: FAILED (the legacy table kept no reason)", id)
	default:
		errs = append(errs, fmt.Errorf("status %q is not PENDING, SUBMITTED, FILLED or FAILED", clip(status)))
	}
	return c, errors.Join(errs...)
}

func (b *builder) positions(ctx context.Context) error {
	if !b.d.Schema.Has(TableAccumulators) {
		if len(b.fills) > 0 {
			b.p.Count(TableFills).Rows += len(b.fills)
			b.p.Count(TableFills).Refused += len(b.fills)
			b.p.Refused = append(b.p.Refused, Refusal{Table: TableFills, Row: "*", Reason: "no trade_accumulators table: no position to tell the fills"})
		}
		return nil
	}
	total, err := b.d.Count(ctx, TableAccumulators)
	if err != nil {
		return err
	}
	b.p.Count(TableAccumulators).Rows = total
	fillsOf := map[market.Symbol][]fill{}
	for _, f := range b.fills {
		fillsOf[f.base] = append(fillsOf[f.base], f)
	}
	seen := map[market.Symbol]bool{}
	done := 0
	err = b.d.each(ctx, `SELECT * FROM trade_accumulators ORDER BY symbol`, func(r row) error {
		done++
		b.progress(TableAccumulators, done, total)
		sym := strings.TrimSpace(text(r.get("symbol")))
		rowID := sym
		if rowID == "" {
			rowID = "(empty)"
		}
		c, err := b.positionCommand(r, sym)
		var l aggregate.Lifecycle[position.State]
		if err == nil {
			l, err = check(position.Definition, string(c.Symbol), c, b.opt.At)
		}
		if err == nil && seen[c.Symbol] {
			err = fmt.Errorf("second accumulator for base symbol %s", c.Symbol)
		}
		if err != nil {
			b.refuse(TableAccumulators, rowID, err)
			return nil
		}
		seen[c.Symbol] = true
		if err := b.add(Item{Table: TableAccumulators, Row: rowID, AggregateType: topics.Position, AggregateID: string(c.Symbol),
			CommandID: CommandID(TableAccumulators, rowID, c.CommandType()), Command: c}, topics.CommandEnvelope{}, string(c.Symbol)); err != nil {
			return err
		}
		l, err = b.addFills(l, fillsOf[c.Symbol])
		if err != nil {
			return err
		}
		b.p.Positions[c.Symbol] = l.State
		return nil
	})
	if err != nil {
		return fmt.Errorf("read %s: %w", TableAccumulators, err)
	}
	for _, base := range sortedKeys(fillsOf) {
		if !seen[base] {
			for _, f := range fillsOf[base] {
				b.p.Count(TableFills).Rows++
				b.refuse(TableFills, fmt.Sprintf("%s:%d", f.venue, f.id), fmt.Errorf("no migrated trade_accumulators row for %s: its position cannot be told this fill", base))
			}
		}
	}
	return nil
}

// addFills tells a position its legacy fills in legacy time order
// (onchain by block_timestamp else created_at, offchain by executed_at;
// ties by venue, then legacy id).
func (b *builder) addFills(l aggregate.Lifecycle[position.State], fs []fill) (aggregate.Lifecycle[position.State], error) {
	sort.SliceStable(fs, func(i, j int) bool {
		switch {
		case !fs[i].at.Equal(fs[j].at):
			return fs[i].at.Before(fs[j].at)
		case fs[i].venue != fs[j].venue:
			return fs[i].venue == position.VenueOnChain
		}
		return fs[i].id < fs[j].id
	})
	for _, f := range fs {
		row := fmt.Sprintf("%s:%d", f.venue, f.id)
		b.p.Count(TableFills).Rows++
		after, _, err := aggregate.Execute(position.Definition, l, f.cmd,
			aggregate.Meta{AggregateID: string(f.base), CommandID: "check", At: b.opt.At})
		if err != nil {
			b.refuse(TableFills, row, err)
			continue
		}
		l = after
		if err := b.add(Item{Table: TableFills, Row: row, AggregateType: topics.Position, AggregateID: string(f.base),
			CommandID: CommandID(TableFills, row, f.cmd.CommandType()), Command: f.cmd}, topics.CommandEnvelope{}, string(f.base)); err != nil {
			return l, err
		}
	}
	return l, nil
}

func (b *builder) positionCommand(r row, sym string) (position.Migrate, error) {
	if sym == "" {
		return position.Migrate{}, errors.New("empty symbol")
	}
	base, err := position.BaseSymbol(sym)
	if err != nil {
		return position.Migrate{}, fmt.Errorf("symbol %q: %w", clip(sym), err)
	}
	long, err1 := Decimal(r.get("accumulated_long"))
	short, err2 := Decimal(r.get("accumulated_short"))
	if err := errors.Join(wrap("accumulated_long", err1), wrap("accumulated_short", err2)); err != nil {
		return position.Migrate{}, err
	}
	var errs []error
	if long.IsNegative() {
		errs = append(errs, fmt.Errorf("negative accumulated_long %s", long))
	}
	if short.IsNegative() {
		errs = append(errs, fmt.Errorf("negative accumulated_short %s", short))
	}
	c := position.Migrate{Symbol: base, NetPosition: long.Sub(short), AccumulatedLong: long, AccumulatedShort: short,
		Threshold: b.opt.Threshold, Execution: b.opt.Execution}
	if v := r.get("pending_execution_id"); v != nil {
		pid, err := integer(v)
		o, ok := b.orders[pid]
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("pending_execution_id: %w", err))
		case !ok:
			errs = append(errs, fmt.Errorf("pending_execution_id %d names no migrated %s row", pid, b.d.Schema.Offchain))
		case o.status == offchainorder.StatusPending || o.status == offchainorder.StatusSubmitted:
			c.Pending = &position.MigratedPending{ExecutionID: o.id, Shares: o.shares, Direction: o.dir}
		}
		// A pointer to a FILLED or FAILED row is stale (the legacy bot
		// cleared it lazily): nothing is in flight.
	}
	return c, errors.Join(errs...)
}

func (b *builder) auth(ctx context.Context) error {
	if !b.d.Schema.Has(TableSchwabAuth) {
		return nil
	}
	total, err := b.d.Count(ctx, TableSchwabAuth)
	if err != nil {
		return err
	}
	b.p.Count(TableSchwabAuth).Rows = total
	return b.d.each(ctx, `SELECT * FROM schwab_auth ORDER BY id`, func(r row) error {
		id, _ := integer(r.get("id"))
		rowID := strconv.FormatInt(id, 10)
		c, err := b.authCommand(r, rowID)
		if err == nil && id != 1 {
			err = fmt.Errorf("id %d: the legacy table holds one row, id 1", id)
		}
		if err != nil {
			b.refuse(TableSchwabAuth, rowID, err)
			return nil
		}
		cid := CommandID(TableSchwabAuth, rowID, c.CommandType())
		rec, err := stack.AuthCommand(c, cid, b.opt.At)
		if err != nil {
			return err
		}
		// AuthCommand correlates by command id, which carries Prefix.
		b.p.Items = append(b.p.Items, Item{Table: TableSchwabAuth, Row: rowID, AggregateType: topics.BrokerAuth,
			AggregateID: brokerauth.ID, CommandID: cid, Command: c, Record: rec})
		b.p.Count(TableSchwabAuth).Commands++
		return nil
	})
}

// authCommand maps the schwab_auth row. The ciphertexts are kept when they
// open under the configured key; re-encrypted when they open only under
// the legacy key (the key changed); refused when they open under neither.
func (b *builder) authCommand(r row, rowID string) (brokerauth.Migrate, error) {
	var errs []error
	tok := func(col string) brokerauth.EncryptedToken {
		s := strings.TrimPrefix(strings.TrimSpace(text(r.get(col))), "0x")
		raw, err := hex.DecodeString(s)
		switch {
		case s == "":
			errs = append(errs, fmt.Errorf("empty %s", col))
		case err != nil:
			errs = append(errs, fmt.Errorf("%s is not hex", col))
		}
		return raw
	}
	at := func(col string) time.Time {
		t, ok, err := Time(r.get(col))
		if err != nil || !ok {
			errs = append(errs, fmt.Errorf("%s: missing or bad timestamp", col))
		}
		return t
	}
	c := brokerauth.Migrate{AccessToken: tok("access_token"), AccessTokenFetchedAt: at("access_token_fetched_at"),
		RefreshToken: tok("refresh_token"), RefreshTokenFetchedAt: at("refresh_token_fetched_at")}
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	if b.opt.Key.IsZero() {
		return c, nil
	}
	cid := CommandID(TableSchwabAuth, rowID, c.CommandType())
	for _, f := range []struct {
		field string
		t     *brokerauth.EncryptedToken
	}{{brokerauth.FieldAccess, &c.AccessToken}, {brokerauth.FieldRefresh, &c.RefreshToken}} {
		if _, err := brokerauth.Decrypt(b.opt.Key, *f.t); err == nil {
			continue
		}
		if b.opt.LegacyKey.IsZero() {
			return c, fmt.Errorf("%s token does not decrypt under the configured key (give the legacy bot's key to re-encrypt)", f.field)
		}
		plain, err := brokerauth.Decrypt(b.opt.LegacyKey, *f.t)
		if err != nil {
			return c, fmt.Errorf("%s token decrypts under neither the configured nor the legacy key: %w", f.field, err)
		}
		if *f.t, err = brokerauth.Encrypt(b.opt.Key, cid, f.field, plain); err != nil {
			return c, fmt.Errorf("re-encrypt the %s token: %w", f.field, err)
		}
	}
	return c, nil
}

// pnl reads the legacy reporter's last cumulative PnL per symbol (its
// last row by timestamp, trade_type, trade_id), summed per base symbol:
// the reporter kept tokenized and base spellings apart.
func (b *builder) pnl(ctx context.Context) error {
	if !b.d.Schema.Has(TableMetricsPnL) {
		return nil
	}
	n, err := b.d.Count(ctx, TableMetricsPnL)
	if err != nil {
		return err
	}
	b.p.Count(TableMetricsPnL).Rows = n
	b.p.Count(TableMetricsPnL).Note = "read by --verify (legacy PnL per symbol)"
	last := map[string]decimal.Decimal{}
	err = b.d.each(ctx, `SELECT symbol, cumulative_pnl FROM metrics_pnl ORDER BY timestamp, trade_type, trade_id`, func(r row) error {
		d, err := Decimal(r.get("cumulative_pnl"))
		if err == nil {
			last[text(r.get("symbol"))] = d
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read %s: %w", TableMetricsPnL, err)
	}
	b.p.LegacyPnL = map[market.Symbol]decimal.Decimal{}
	for sym, v := range last {
		base, err := position.BaseSymbol(sym)
		if err != nil {
			continue
		}
		b.p.LegacyPnL[base] = b.p.LegacyPnL[base].Add(v)
	}
	return nil
}

func (b *builder) notes(ctx context.Context) error {
	for _, t := range []struct{ table, note string }{
		{TableLinks, "not migrated: the event model has no trade-to-hedge links"},
		{TableEventQueue, "read for real block numbers"},
	} {
		if b.d.Schema.Has(t.table) {
			n, err := b.d.Count(ctx, t.table)
			if err != nil {
				return err
			}
			c := b.p.Count(t.table)
			c.Rows, c.Note = n, t.note
		}
	}
	return nil
}
