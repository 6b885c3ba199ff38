package chain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rpc"
)

// Client is what the source asks of a node; *ethclient.Client has it all.
type Client interface {
	BlockNumber(ctx context.Context) (uint64, error)
	HeaderByNumber(ctx context.Context, number *big.Int) (*types.Header, error)
	FilterLogs(ctx context.Context, q ethereum.FilterQuery) ([]types.Log, error)
	CallContract(ctx context.Context, call ethereum.CallMsg, blockNumber *big.Int) ([]byte, error)
	TransactionReceipt(ctx context.Context, txHash common.Hash) (*types.Receipt, error)
}

// errKind says how to react to a failed call.
type errKind int

const (
	errTransient errKind = iota // retry after a backoff: 429, 5xx, timeouts, resets
	errTooLarge                 // eth_getLogs range or result too large: halve the range
	errFatal                    // the caller's context ended
	errAnswer                   // the node answered, with an error that will not change (a revert): no retry
)

// tooLargeHints are how providers word "ask for fewer blocks" (Alchemy,
// Infura, QuickNode, drpc, geth's own limits).
var tooLargeHints = []string{
	"more than", "too large", "too wide", "too many results", "range is too", "block range",
	"exceed maximum", "exceeds the range", "exceeds limit", "limited to", "response size", "limit exceeded", "returned more",
}

// answerHints are answers that will not change on a retry: a revert, or a
// node without the historical state a past-block eth_call needs.
var answerHints = []string{"execution reverted", "missing trie node", "header not found", "historical state", "state not available", "pruned"}

// rateHints are rate limits worded as errors (they also come as HTTP 429).
var rateHints = []string{"rate limit", "too many requests", "capacity exceeded", "throughput"}

func classify(err error) errKind {
	if errors.Is(err, context.Canceled) {
		return errFatal
	}
	var he rpc.HTTPError
	if errors.As(err, &he) {
		switch {
		case he.StatusCode == 413:
			return errTooLarge
		default:
			return errTransient // 429, 5xx, and odd gateways: retry
		}
	}
	msg := strings.ToLower(err.Error())
	// A contract that reverts (an unknown Pyth feed, a token without
	// symbol()) answers the same every time.
	// (Not rpc.DataError: every JSON-RPC error implements it, limits too.)
	for _, h := range answerHints {
		if strings.Contains(msg, h) {
			return errAnswer
		}
	}
	for _, h := range rateHints {
		if strings.Contains(msg, h) {
			return errTransient
		}
	}
	for _, h := range tooLargeHints {
		if strings.Contains(msg, h) {
			return errTooLarge
		}
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) {
		return errTransient
	}
	return errTransient
}

// retrier retries transient failures with capped exponential backoff.
type retrier struct {
	min, max time.Duration
	attempts int
	log      *slog.Logger
	retries  *counter
}

// do runs f until it succeeds, fails with a non-transient error, or the
// attempts are used up. A too-large error is returned at once (the caller
// shrinks its request).
func (r retrier) do(ctx context.Context, what string, f func(ctx context.Context) error) error {
	wait := r.min
	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := f(cctx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		k := classify(err)
		if k != errTransient || attempt >= r.attempts {
			return fmt.Errorf("%s: %w", what, err)
		}
		r.retries.add(1)
		r.log.Warn("rpc call failed; retrying", "call", what, "attempt", attempt, "retry_in", wait, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, r.max)
	}
}

// counter is a concurrency-safe count for Stats.
type counter struct {
	mu sync.Mutex
	n  int64
}

func (c *counter) add(n int64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.n += n
	c.mu.Unlock()
}

func (c *counter) get() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// logFetcher pages eth_getLogs with a range that halves when the provider
// says it is too large and grows back after successes.
type logFetcher struct {
	client    Client
	orderbook common.Address
	topics    []common.Hash
	batch     uint64 // current range, in blocks
	maxBatch  uint64
	ceiling   uint64 // the smallest range found too large lately: growth stays below it
	successes int
	retry     retrier
	halvings  *counter
}

// next fetches the logs of [from, at most to] and returns the last block
// the answer covers.
func (f *logFetcher) next(ctx context.Context, from, to uint64) ([]types.Log, uint64, error) {
	for {
		end := min(to, from+f.batch-1)
		var logs []types.Log
		err := f.retry.do(ctx, fmt.Sprintf("eth_getLogs %d-%d", from, end), func(ctx context.Context) error {
			var err error
			logs, err = f.client.FilterLogs(ctx, ethereum.FilterQuery{
				FromBlock: new(big.Int).SetUint64(from), ToBlock: new(big.Int).SetUint64(end),
				Addresses: []common.Address{f.orderbook}, Topics: [][]common.Hash{f.topics},
			})
			return err
		})
		if err == nil {
			// Grow back after a run of successes: a busy stretch of chain
			// that needed small ranges does not slow the rest down.
			// Each refused range cost the provider a full query, so the
			// ceiling is forgotten only slowly (after 64 successes).
			f.successes++
			if f.ceiling != 0 && f.successes%64 == 0 {
				f.ceiling = 0
			}
			if f.successes%4 == 0 && f.batch < f.maxBatch {
				next := min(2*f.batch, f.maxBatch)
				if f.ceiling != 0 {
					next = min(next, f.ceiling-1)
				}
				f.batch = max(f.batch, next)
			}
			return logs, end, nil
		}
		if classify(err) != errTooLarge || ctx.Err() != nil {
			return nil, 0, err
		}
		if f.batch == 1 {
			return nil, 0, fmt.Errorf("%w (even a single block is too large for this provider)", err)
		}
		f.ceiling = f.batch
		f.batch, f.successes = max(1, f.batch/2), 0
		f.halvings.add(1)
		f.retry.log.Info("eth_getLogs range too large; halving it", "blocks", f.batch, "err", err)
	}
}

// tokens caches ERC20 symbols by address.
type tokens struct {
	client Client
	retry  retrier
	mu     sync.Mutex
	symbol map[common.Address]string
}

var (
	selectorSymbol = common.FromHex("0x95d89b41")
	stringType, _  = abi.NewType("string", "", nil)
)

func (t *tokens) symbolOf(ctx context.Context, token common.Address) (string, error) {
	t.mu.Lock()
	s, ok := t.symbol[token]
	t.mu.Unlock()
	if ok {
		return s, nil
	}
	var out []byte
	err := t.retry.do(ctx, "symbol() of "+token.Hex(), func(ctx context.Context) error {
		var err error
		out, err = t.client.CallContract(ctx, ethereum.CallMsg{To: &token, Data: selectorSymbol}, nil)
		return err
	})
	if err != nil {
		return "", err
	}
	vals, err := abi.Arguments{{Type: stringType}}.Unpack(out)
	if err != nil || len(vals) != 1 {
		return "", fmt.Errorf("symbol() of %s: not an ABI string (%d bytes): %v", token.Hex(), len(out), err)
	}
	s = vals[0].(string)
	t.mu.Lock()
	t.symbol[token] = s
	t.mu.Unlock()
	return s, nil
}
