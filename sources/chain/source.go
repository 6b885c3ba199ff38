// Package chain is the chain source: it reads the market maker's fills from
// a Raindex orderbook over any Ethereum JSON-RPC node (Base in production)
// and produces one OnChainTrade Witness command per fill, in chain order,
// then an Enrich command with the receipt's gas, the equity's Pyth price and
// Pyth's ETH/USD at the fill's block.
//
// It backfills from a start block in bounded eth_getLogs ranges (halved
// when the provider says too large, grown back after successes; transient
// failures retried with capped backoff), then tails new blocks up to a
// cutoff (the node's safe block, or latest minus confirmations). Its
// position is a checkpoint on topics.ChainCheckpoints, written only after
// every command of a range is acknowledged: a restart resumes after it, and
// re-ingesting a range is harmless (deterministic command ids). A block it
// ingested that leaves the canonical chain (a reorg) has its fills reverted
// (OnChainTrade Revert) before the new canonical blocks are ingested.
//
// Decoding and the trade rules live in package rain.
package chain

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hedgeline/hedgeline/market"
	"github.com/hedgeline/hedgeline/sources/chain/rain"
	"github.com/hedgeline/hedgeline/sources/file"
	"github.com/hedgeline/hedgeline/topics"
)

// Cutoff names the newest block the source ingests up to.
type Cutoff string

const (
	CutoffAuto      Cutoff = ""          // safe when the node answers it, else latest - confirmations
	CutoffLatest    Cutoff = "latest"    // latest - confirmations
	CutoffSafe      Cutoff = "safe"      // the node's safe block
	CutoffFinalized Cutoff = "finalized" // the node's finalized block
)

// ParseCutoff reads latest, safe, finalized or "" (auto).
func ParseCutoff(s string) (Cutoff, error) {
	switch c := Cutoff(s); c {
	case CutoffAuto, CutoffLatest, CutoffSafe, CutoffFinalized:
		return c, nil
	case "auto":
		return CutoffAuto, nil
	}
	return "", fmt.Errorf("cutoff %q: want latest, safe or finalized", s)
}

// Config configures a source.
type Config struct {
	Client    Client
	Kafka     *kgo.Client // produces commands, rejections and checkpoints
	Orderbook common.Address
	Owner     common.Address
	// FromBlock and UntilBlock are inclusive; UntilBlock 0 tails forever.
	FromBlock, UntilBlock uint64
	Cutoff                Cutoff
	Confirmations         uint64
	// BatchBlocks is the largest eth_getLogs range (default 2,000).
	BatchBlocks  uint64
	PollInterval time.Duration // how often the tail looks for new blocks (default 2 s)
	// Pyth is the Pyth contract and Feeds the feed id of each base symbol:
	// a fill of a symbol with a feed is enriched with getPriceUnsafe at its
	// block. The zero address turns Pyth off.
	Pyth  common.Address
	Feeds map[string]common.Hash
	// ETHUSDFeed is Pyth's ETH/USD feed (DefaultETHUSDFeed on Base), read
	// at each block with fills for the gas cost in USD; zero: not read.
	ETHUSDFeed common.Hash
	// IssuedAt is when a fill counts as seen (default file.SeenAuto: its
	// block time for history, now for live blocks).
	SeenAt   file.SeenAt
	Logger   *slog.Logger
	Progress func(Progress) // called after every range; nil: logged every 5 s
	// Observe, if set, is also called after every range, whether or not
	// Progress is (metrics).
	Observe func(Progress)
}

// Progress is where a run stands.
type Progress struct {
	From, Next, Target uint64 // Next: the first block not yet ingested
	Fills, Skipped     int64  // fills produced; owner's logs that were no fill (reported)
	Reverted           int64
	BlocksPerSecond    float64
	ETA                time.Duration
	Stats              Stats
}

// Stats counts the RPC side.
type Stats struct {
	Retries, Halvings int64
}

// Source is one orderbook and owner's fills.
type Source struct {
	cfg     Config
	log     *slog.Logger
	fetch   *logFetcher
	tokens  *tokens
	retry   retrier
	cps     checkpoints
	headers map[uint64]*types.Header

	fills, skipped, reverted int64
	retries, halvings        counter
	last                     Progress
}

// Progress is the run's last progress report.
func (s *Source) Progress() Progress { return s.last }

// New validates cfg.
func New(cfg Config) (*Source, error) {
	var errs []error
	if cfg.Client == nil || cfg.Kafka == nil {
		errs = append(errs, errors.New("chain source: a node client and a Kafka client are required"))
	}
	if cfg.Orderbook == (common.Address{}) {
		errs = append(errs, errors.New("--orderbook: required"))
	}
	if cfg.Owner == (common.Address{}) {
		errs = append(errs, errors.New("--owner: required"))
	}
	if cfg.UntilBlock != 0 && cfg.UntilBlock < cfg.FromBlock {
		errs = append(errs, fmt.Errorf("--until-block %d is before --from-block %d", cfg.UntilBlock, cfg.FromBlock))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.BatchBlocks == 0 {
		cfg.BatchBlocks = 2000
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 2 * time.Second
	}
	if cfg.SeenAt == "" {
		cfg.SeenAt = file.SeenAuto
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Source{cfg: cfg, headers: map[uint64]*types.Header{}}
	s.log = cfg.Logger.With("component", "chain", "orderbook", cfg.Orderbook.Hex(), "owner", cfg.Owner.Hex())
	s.retry = retrier{min: 200 * time.Millisecond, max: 30 * time.Second, attempts: 10, log: s.log, retries: &s.retries}
	s.fetch = &logFetcher{client: cfg.Client, orderbook: cfg.Orderbook, topics: rain.Topics(),
		batch: cfg.BatchBlocks, maxBatch: cfg.BatchBlocks, retry: s.retry, halvings: &s.halvings}
	s.tokens = &tokens{client: cfg.Client, retry: s.retry, symbol: map[common.Address]string{}}
	s.cps = checkpoints{cl: cfg.Kafka, key: checkpointKey(cfg.Orderbook.Hex(), cfg.Owner.Hex())}
	return s, nil
}

// Run ingests until ctx ends (then it returns nil), or, with UntilBlock,
// until every block up to it is ingested (nil; ctx.Err() if stopped
// before). Failures of the node are retried; in a tail they are logged and
// retried after PollInterval forever.
func (s *Source) Run(ctx context.Context) error {
	err := s.run(ctx)
	if err != nil && ctx.Err() != nil && s.cfg.UntilBlock == 0 {
		return nil // a tail ends when it is stopped; an unfinished backfill says so
	}
	return err
}

func (s *Source) run(ctx context.Context) error {
	cp, ok, err := s.cps.load(ctx)
	if err != nil {
		return err
	}
	next := s.cfg.FromBlock
	if ok && cp.Block+1 > next {
		next = cp.Block + 1
		s.log.Info("resuming after the checkpoint", "block", cp.Block, "hash", cp.Hash)
	} else if !ok {
		cp = Checkpoint{Orderbook: strings.ToLower(s.cfg.Orderbook.Hex()), Owner: strings.ToLower(s.cfg.Owner.Hex())}
	}
	start, began := next, time.Now()
	lastReport := time.Time{}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		target, err := s.target(ctx)
		if err == nil && cp.Hash != "" {
			var forked bool
			if cp, forked, err = s.checkReorg(ctx, cp); err == nil && forked {
				next = cp.Block + 1
				continue
			}
		}
		if err == nil && next <= target {
			var end uint64
			if end, cp, err = s.ingest(ctx, next, target, cp); err == nil {
				next = end + 1
				p := s.progress(start, next, target, began)
				s.last = p
				if s.cfg.Observe != nil {
					s.cfg.Observe(p)
				}
				if s.cfg.Progress != nil {
					s.cfg.Progress(p)
				} else if time.Since(lastReport) > 5*time.Second || next > target {
					lastReport = time.Now()
					s.log.Info("chain progress", "next_block", next, "target", target, "fills", p.Fills,
						"blocks_per_s", fmt.Sprintf("%.0f", p.BlocksPerSecond), "eta", p.ETA.Round(time.Second))
				}
				continue
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if s.cfg.UntilBlock != 0 {
				return err // a backfill says what failed; the checkpoint keeps its progress
			}
			s.log.Error("chain source: retrying after the poll interval", "next_block", next, "err", err)
		} else if s.cfg.UntilBlock != 0 && next > s.cfg.UntilBlock {
			s.log.Info("chain source: every block ingested", "until_block", s.cfg.UntilBlock, "fills", s.fills)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(s.cfg.PollInterval):
		}
	}
}

// target is the newest block to ingest now.
func (s *Source) target(ctx context.Context) (uint64, error) {
	var head uint64
	err := s.retry.do(ctx, "cutoff block", func(ctx context.Context) error {
		var err error
		head, err = s.cutoffBlock(ctx)
		return err
	})
	if err != nil {
		return 0, err
	}
	if s.cfg.UntilBlock != 0 {
		head = min(head, s.cfg.UntilBlock)
	}
	return head, nil
}

func (s *Source) cutoffBlock(ctx context.Context) (uint64, error) {
	tagged := func(tag rpc.BlockNumber) (uint64, error) {
		h, err := s.cfg.Client.HeaderByNumber(ctx, big.NewInt(int64(tag)))
		if err != nil {
			return 0, err
		}
		return h.Number.Uint64(), nil
	}
	switch s.cfg.Cutoff {
	case CutoffSafe:
		return tagged(rpc.SafeBlockNumber)
	case CutoffFinalized:
		return tagged(rpc.FinalizedBlockNumber)
	case CutoffAuto:
		if n, err := tagged(rpc.SafeBlockNumber); err == nil {
			return n, nil
		}
	}
	latest, err := s.cfg.Client.BlockNumber(ctx)
	if err != nil {
		return 0, err
	}
	if latest < s.cfg.Confirmations {
		return 0, nil
	}
	return latest - s.cfg.Confirmations, nil
}

// header returns block n's header (cached for the current range).
func (s *Source) header(ctx context.Context, n uint64) (*types.Header, error) {
	if h, ok := s.headers[n]; ok {
		return h, nil
	}
	var h *types.Header
	err := s.retry.do(ctx, fmt.Sprintf("header of block %d", n), func(ctx context.Context) error {
		var err error
		h, err = s.cfg.Client.HeaderByNumber(ctx, new(big.Int).SetUint64(n))
		return err
	})
	if err != nil {
		return nil, err
	}
	s.headers[n] = h
	return h, nil
}

// fill is one fill found in a range, with its Witness record.
type fill struct {
	f         file.Fill
	blockHash common.Hash
	txHash    common.Hash
	key       string
	value     []byte
}

// ingest ingests one eth_getLogs range starting at from (at most to),
// produces its commands, checkpoints, and returns the range's last block.
func (s *Source) ingest(ctx context.Context, from, to uint64, cp Checkpoint) (uint64, Checkpoint, error) {
	clear(s.headers)
	logs, end, err := s.fetch.next(ctx, from, to)
	if err != nil {
		return 0, cp, err
	}
	slices.SortFunc(logs, func(a, b types.Log) int {
		return cmp.Or(cmp.Compare(a.BlockNumber, b.BlockNumber), cmp.Compare(a.Index, b.Index))
	})
	var fills []fill
	var rejects []*kgo.Record
	byBlock := map[uint64][]types.Log{}
	for _, l := range logs {
		byBlock[l.BlockNumber] = append(byBlock[l.BlockNumber], l)
	}
	for _, l := range logs {
		if l.Removed || rain.IsAfterClear(l.Topics[0]) {
			continue
		}
		f, ok, why := s.toFill(ctx, l, byBlock[l.BlockNumber])
		switch {
		case why != nil && ctx.Err() != nil:
			return 0, cp, ctx.Err()
		case why != nil && isTransientRPC(why):
			return 0, cp, why // the node failed us: retry the range
		case why != nil:
			s.skipped++
			s.log.Error("an orderbook log of the owner is not a fill; reported on "+topics.OnChainTradeRejections,
				"tx", l.TxHash.Hex(), "log_index", l.Index, "block", l.BlockNumber, "event", rain.EventName(l.Topics[0]), "reason", why)
			rec, err := rejection(l, why)
			if err != nil {
				return 0, cp, err
			}
			rejects = append(rejects, rec)
		case ok:
			fills = append(fills, f)
		}
	}

	// Witness first (hedging waits for nothing else), then the reports,
	// then enrichment, then the checkpoint: a crash anywhere re-ingests the
	// range, which the command ids make harmless.
	recs := make([]*kgo.Record, 0, len(fills))
	for _, f := range fills {
		recs = append(recs, &kgo.Record{Topic: topics.OnChainTradeCommands, Key: []byte(f.key), Value: f.value})
	}
	if err := s.produce(ctx, append(recs, rejects...)); err != nil {
		return 0, cp, err
	}
	s.fills += int64(len(fills))
	if err := s.enrich(ctx, fills); err != nil {
		return 0, cp, err
	}
	h, err := s.header(ctx, end)
	if err != nil {
		return 0, cp, err
	}
	cp.Block, cp.Hash = end, h.Hash().Hex()
	cp.Recent = remember(cp.Recent, fills, end)
	if err := s.cps.save(ctx, cp); err != nil {
		return 0, cp, err
	}
	return end, cp, nil
}

// produce writes records and waits for every acknowledgement.
func (s *Source) produce(ctx context.Context, recs []*kgo.Record) error {
	if len(recs) == 0 {
		return nil
	}
	if err := s.cfg.Kafka.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("produce %d records: %w", len(recs), err)
	}
	return nil
}

// toFill turns one log into the owner's fill. ok=false with no error: not
// the owner's (or a zero amount: no trade). An error is a log of the owner
// that is no fill, or a node failure (isTransientRPC).
func (s *Source) toFill(ctx context.Context, l types.Log, block []types.Log) (fill, bool, error) {
	ev, err := rain.Decode(l)
	if err != nil {
		return fill{}, false, err
	}
	var after *rain.AfterClear
	if ev.Kind() == rain.KindClear {
		if !ownedClear(ev.(*rain.Clear), s.cfg.Owner) {
			return fill{}, false, nil
		}
		a, err := s.afterClear(ctx, l, block)
		if err != nil {
			return fill{}, false, err
		}
		after = a
	}
	of, ok, err := rain.OrderFill(ev, after, s.cfg.Owner)
	if err != nil || !ok {
		return fill{}, false, err
	}
	in, err := s.tokens.symbolOf(ctx, of.InputToken)
	if err != nil {
		return fill{}, false, rpcFailure{err}
	}
	out, err := s.tokens.symbolOf(ctx, of.OutputToken)
	if err != nil {
		return fill{}, false, rpcFailure{err}
	}
	t, err := rain.Classify(of, in, out)
	if errors.Is(err, rain.ErrZeroAmount) {
		s.log.Debug("zero-amount fill skipped", "tx", l.TxHash.Hex(), "log_index", l.Index)
		return fill{}, false, nil
	}
	if err != nil {
		return fill{}, false, fmt.Errorf("%s of %s/%s: %w", ev.Name(), in, out, err)
	}
	h, err := s.header(ctx, l.BlockNumber)
	if err != nil {
		return fill{}, false, rpcFailure{err}
	}
	if h.Hash() != l.BlockHash {
		// The block changed between the logs and the header: re-read.
		return fill{}, false, rpcFailure{fmt.Errorf("block %d is being reorganized (log of %s, header %s)", l.BlockNumber, l.BlockHash.Hex(), h.Hash().Hex())}
	}
	id, err := market.NewTradeID(l.TxHash.Hex(), uint64(l.Index))
	if err != nil {
		return fill{}, false, err
	}
	f := file.Fill{
		TradeID: id, BlockNumber: l.BlockNumber, BlockTimestamp: time.Unix(int64(h.Time), 0).UTC(),
		Symbol: t.Symbol, Direction: t.Direction, Amount: t.Amount, PriceUSDC: t.PriceUSDC,
	}
	key, value, err := file.WitnessCommand(f, s.cfg.SeenAt.At(f, time.Now()), witnessID(id, l.BlockHash), "chain-source")
	if err != nil {
		return fill{}, false, err
	}
	return fill{f: f, blockHash: l.BlockHash, txHash: l.TxHash, key: key, value: value}, true, nil
}

// witnessID is the Witness command id: the same fill in the same block is
// the same command (a re-ingested range is refused as a repeat); the same
// transaction mined again in another block after a reorg is a new one.
func witnessID(id market.TradeID, block common.Hash) string {
	return "witness:" + id.String() + "@" + block.Hex()[2:18]
}

func ownedClear(c *rain.Clear, owner common.Address) bool {
	return c.Alice.Owner == owner || c.Bob.Owner == owner
}

// afterClear finds the Clear's AfterClear among the logs of its block, and
// if it is not there, asks the node for that block's logs once more.
func (s *Source) afterClear(ctx context.Context, clearLog types.Log, block []types.Log) (*rain.AfterClear, error) {
	m, ok := rain.MatchAfterClear(clearLog, block)
	if !ok {
		again, _, err := (&logFetcher{client: s.cfg.Client, orderbook: s.cfg.Orderbook, topics: rain.Topics(),
			batch: 1, maxBatch: 1, retry: s.retry, halvings: &s.halvings}).next(ctx, clearLog.BlockNumber, clearLog.BlockNumber)
		if err != nil {
			return nil, rpcFailure{err}
		}
		if m, ok = rain.MatchAfterClear(clearLog, again); !ok {
			return nil, fmt.Errorf("%w: tx %s, Clear at log index %d of block %d", rain.ErrNoAfterClear, clearLog.TxHash.Hex(), clearLog.Index, clearLog.BlockNumber)
		}
	}
	ev, err := rain.Decode(m)
	if err != nil {
		return nil, fmt.Errorf("AfterClear of tx %s at log index %d: %w", m.TxHash.Hex(), m.Index, err)
	}
	return ev.(*rain.AfterClear), nil
}

// rpcFailure marks an error of the node (retry the range), as opposed to
// a log that is no fill (report it and go on).
type rpcFailure struct{ err error }

func (e rpcFailure) Error() string { return e.err.Error() }
func (e rpcFailure) Unwrap() error { return e.err }

func isTransientRPC(err error) bool {
	var rf rpcFailure
	return errors.As(err, &rf)
}

// rejection reports a log of the owner that is no fill on the OnChainTrade
// rejections topic, with the log itself as the original.
func rejection(l types.Log, why error) (*kgo.Record, error) {
	raw, err := json.Marshal(l)
	if err != nil {
		return nil, err
	}
	id := fmt.Sprintf("%s:%d", strings.ToLower(l.TxHash.Hex()), l.Index)
	r := topics.Rejection{
		AggregateType: topics.OnChainTrade, AggregateID: id, Reason: "chain source: " + why.Error(),
		Topic: "chain:" + strings.ToLower(l.Address.Hex()), Partition: 0, Offset: int64(l.BlockNumber), RejectedAt: time.Now().UTC(),
	}
	r.SetOriginal(raw)
	b, err := topics.EncodeRejection(r)
	if err != nil {
		return nil, fmt.Errorf("encode rejection: %w", err)
	}
	return &kgo.Record{Topic: topics.OnChainTradeRejections, Key: []byte(topics.RejectionKey(id)), Value: b}, nil
}

// remember adds the range's blocks with fills to recent and keeps the last
// RecentBlocks blocks below end, and at most RecentFills fills (the newest
// blocks'; a block's fills are kept whole).
func remember(recent []BlockRef, fills []fill, end uint64) []BlockRef {
	for _, f := range fills {
		if n := len(recent); n == 0 || recent[n-1].Number != f.f.BlockNumber {
			recent = append(recent, BlockRef{Number: f.f.BlockNumber, Hash: f.blockHash.Hex()})
		}
		b := &recent[len(recent)-1]
		b.Fills = append(b.Fills, FillRef{TradeID: f.f.TradeID.String(), Base: string(f.f.Symbol.Base)})
	}
	n := 0
	for _, b := range recent {
		n += len(b.Fills)
	}
	i := 0
	for i < len(recent) && (end >= RecentBlocks && recent[i].Number < end-RecentBlocks || n > RecentFills) {
		n -= len(recent[i].Fills)
		i++
	}
	return recent[i:]
}

func (s *Source) progress(start, next, target uint64, began time.Time) Progress {
	p := Progress{From: start, Next: next, Target: target, Fills: s.fills, Skipped: s.skipped, Reverted: s.reverted,
		Stats: Stats{Retries: s.retries.get(), Halvings: s.halvings.get()}}
	if el := time.Since(began).Seconds(); el > 0 && next > start {
		p.BlocksPerSecond = float64(next-start) / el
		if target >= next && p.BlocksPerSecond > 0 {
			p.ETA = time.Duration(float64(target-next+1) / p.BlocksPerSecond * float64(time.Second))
		}
	}
	return p
}
