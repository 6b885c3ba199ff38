package chaintest

import (
	"context"
	"errors"
	"io"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rpc"
)

// chainWithLogs is a chain with one orderbook log in each of blocks 1..n.
func chainWithLogs(t *testing.T, n int) *Chain {
	chain := New(t, Config{})
	for i := range n {
		chain.Emit(Record{Topic0: topic("ClearV3"), Data: []byte{byte(i)}})
	}
	return chain
}

func TestProxyForwardsAndCounts(t *testing.T) {
	chain := chainWithLogs(t, 3)
	proxy := NewProxy(t, chain.RPCURL())
	cl := dial(t, proxy.URL())
	ctx := context.Background()
	if n, err := cl.BlockNumber(ctx); err != nil || n != 3 {
		t.Fatalf("eth_blockNumber through the proxy = %d, %v; want 3", n, err)
	}
	logs := filterOrderbook(t, cl, chain.Orderbook(), 0, 3)
	if len(logs) != 3 {
		t.Errorf("%d logs through the proxy, want 3", len(logs))
	}
	batch := []rpc.BatchElem{
		{Method: "eth_blockNumber", Result: new(string)},
		{Method: "eth_chainId", Result: new(string)},
	}
	if err := cl.Client().BatchCallContext(ctx, batch); err != nil || batch[0].Error != nil || batch[1].Error != nil {
		t.Fatalf("batch: %v %v %v", err, batch[0].Error, batch[1].Error)
	}
	if *batch[1].Result.(*string) != "0x539" {
		t.Errorf("eth_chainId in a batch = %s, want 0x539", *batch[1].Result.(*string))
	}
	for method, want := range map[string]int{"eth_blockNumber": 2, "eth_getLogs": 1, "eth_chainId": 1, "": 4} {
		if got := proxy.Calls(method); got != want {
			t.Errorf("Calls(%q) = %d, want %d", method, got, want)
		}
	}
	if p := proxy.Params("eth_getLogs"); len(p) != 1 || !strings.Contains(string(p[0]), `"toBlock":"0x3"`) {
		t.Errorf("Params(eth_getLogs) = %s", p)
	}
}

func TestProxyHTTPFaults(t *testing.T) {
	chain := New(t, Config{})
	proxy := NewProxy(t, chain.RPCURL())
	cl := dial(t, proxy.URL())
	ctx := context.Background()

	proxy.Inject("eth_blockNumber", 1, TooManyRequests("7"))
	proxy.Inject("eth_blockNumber", 2, HTTPError(http.StatusBadGateway))
	proxy.Inject("", 1, HTTPError(http.StatusServiceUnavailable))

	var he rpc.HTTPError
	_, err := cl.BlockNumber(ctx)
	if !errors.As(err, &he) || he.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("first call: %v, want HTTP 429", err)
	}
	for i := range 2 {
		_, err = cl.BlockNumber(ctx)
		if !errors.As(err, &he) || he.StatusCode != http.StatusBadGateway {
			t.Fatalf("call %d: %v, want HTTP 502", i+2, err)
		}
	}
	// The method's queue is used up; the any-method fault applies now.
	if _, err = cl.BlockNumber(ctx); !errors.As(err, &he) || he.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("call 4: %v, want HTTP 503", err)
	}
	if _, err = cl.BlockNumber(ctx); err != nil {
		t.Fatalf("call 5 after the faults: %v", err)
	}
	if got := proxy.Calls("eth_blockNumber"); got != 5 {
		t.Errorf("Calls counts faulted calls too: %d, want 5", got)
	}

	// The header, as a client reading it would see it.
	proxy.Inject("", 1, TooManyRequests("7"))
	resp, err := http.Post(proxy.URL(), "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "7" || !strings.Contains(string(body), "compute units") {
		t.Errorf("429: status %d Retry-After %q body %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}

	proxy.Inject("eth_chainId", 1, Fault{Drop: true})
	if _, err := cl.ChainID(ctx); err == nil || errors.As(err, &he) {
		t.Errorf("dropped connection: %v, want a transport error", err)
	}

	proxy.Inject("eth_chainId", -1, Delay(5*time.Second))
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := cl.ChainID(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("delayed call with a 100ms deadline: %v, want deadline exceeded", err)
	}
	proxy.Reset()
	if id, err := cl.ChainID(ctx); err != nil || id.Int64() != ChainID {
		t.Errorf("after Reset: %v %v", id, err)
	}
	if proxy.Calls("") != 1 {
		t.Errorf("Reset did not zero the counters: %d", proxy.Calls(""))
	}
}

func TestProxyRPCErrorFault(t *testing.T) {
	chain := New(t, Config{})
	proxy := NewProxy(t, chain.RPCURL())
	cl := dial(t, proxy.URL())
	proxy.Inject("eth_getBlockByNumber", 1, Fail(-32000, "header not found"))
	_, err := cl.HeaderByNumber(context.Background(), nil)
	var re rpc.Error
	if !errors.As(err, &re) || re.ErrorCode() != -32000 || re.Error() != "header not found" {
		t.Fatalf("got %v, want JSON-RPC error -32000 header not found", err)
	}
	if _, err := cl.HeaderByNumber(context.Background(), nil); err != nil {
		t.Fatalf("second call: %v", err)
	}
}

func TestProxyLogsLimits(t *testing.T) {
	chain := chainWithLogs(t, 12) // logs in blocks 1..12, head 12
	proxy := NewProxy(t, chain.RPCURL())
	cl := dial(t, proxy.URL())
	ctx := context.Background()
	query := func(from int64, to *big.Int) ([]types.Log, error) {
		return cl.FilterLogs(ctx, ethereum.FilterQuery{FromBlock: big.NewInt(from), ToBlock: to, Addresses: []common.Address{chain.Orderbook()}})
	}
	rpcErr := func(err error) (int, string) {
		var re rpc.Error
		if !errors.As(err, &re) {
			t.Fatalf("error %v is not a JSON-RPC error", err)
		}
		return re.ErrorCode(), re.Error()
	}

	proxy.LimitLogs(LogsLimit{MaxRange: 10})
	if logs, err := query(1, big.NewInt(10)); err != nil || len(logs) != 10 {
		t.Fatalf("10 blocks under a 10-block cap: %d logs, %v", len(logs), err)
	}
	_, err := query(1, big.NewInt(11))
	if code, msg := rpcErr(err); code != -32602 || msg != "range 11 exceeds limit of 10" {
		t.Errorf("Infura range error: %d %q", code, msg)
	}
	// "latest" is resolved: 0..latest(12) is 13 blocks.
	_, err = query(0, nil)
	if code, msg := rpcErr(err); code != -32602 || msg != "range 13 exceeds limit of 10" {
		t.Errorf("Infura range error with latest: %d %q", code, msg)
	}

	proxy.LimitLogs(LogsLimit{MaxRange: 500, Provider: Alchemy})
	_, err = cl.FilterLogs(ctx, ethereum.FilterQuery{FromBlock: big.NewInt(0), ToBlock: big.NewInt(0x1000)})
	if code, msg := rpcErr(err); code != -32600 || msg != "You can make eth_getLogs requests with up to a 500 block range. Based on your parameters, this block range should work: [0x0, 0x1f3]" {
		t.Errorf("Alchemy range error: %d %q", code, msg)
	}

	proxy.LimitLogs(LogsLimit{MaxRange: 10000, Provider: QuickNode})
	_, err = cl.FilterLogs(ctx, ethereum.FilterQuery{FromBlock: big.NewInt(0), ToBlock: big.NewInt(20000)})
	var he rpc.HTTPError
	if !errors.As(err, &he) || he.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(he.Body), `"code":-32614,"message":"eth_getLogs is limited to a 10,000 range"`) {
		t.Errorf("QuickNode range error: %v", err)
	}

	proxy.LimitLogs(LogsLimit{MaxResults: 5})
	if logs, err := query(1, big.NewInt(5)); err != nil || len(logs) != 5 {
		t.Fatalf("5 logs under a 5-result cap: %d logs, %v", len(logs), err)
	}
	_, err = query(1, big.NewInt(6))
	if code, msg := rpcErr(err); code != -32005 || msg != "query returned more than 5 results" {
		t.Errorf("Infura results error: %d %q", code, msg)
	}
	proxy.LimitLogs(LogsLimit{MaxResults: 5, Provider: Alchemy})
	_, err = query(3, nil)
	if code, msg := rpcErr(err); code != -32602 || !strings.HasSuffix(msg, "cap of 5 logs in the response. Based on your parameters and the response size limit, this block range should work: [0x3, 0x7]") {
		t.Errorf("Alchemy results error: %d %q", code, msg)
	}

	// Caps lifted: everything again.
	proxy.LimitLogs(LogsLimit{})
	if logs, err := query(0, nil); err != nil || len(logs) != 12 {
		t.Errorf("without caps: %d logs, %v", len(logs), err)
	}
}
