package chaintest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common/hexutil"
)

// Proxy is a JSON-RPC HTTP proxy in front of a node (usually Chain.RPCURL)
// that behaves like a hosted provider on demand: rate limiting (429 with
// Retry-After), 5xx, slow answers, dropped connections, JSON-RPC errors, and
// eth_getLogs block-range and result-count caps with the providers' own
// wording. It counts the calls of each method. A JSON-RPC batch is split and
// each element handled (and counted) on its own; an HTTP-level fault of any
// element answers the whole batch.
type Proxy struct {
	t      testing.TB
	target string
	srv    *httptest.Server
	client *http.Client

	mu       sync.Mutex
	faults   map[string][]*queuedFault // by method; "" matches any method
	calls    map[string]int
	requests map[string][]json.RawMessage // params, by method
	limit    LogsLimit
}

// Fault is what the proxy does to a call. Exactly the set fields apply:
// Delay first, then Drop, Status or Error instead of forwarding; a Fault with
// only Delay forwards the call late.
type Fault struct {
	Delay      time.Duration
	Drop       bool   // close the connection without an answer
	Status     int    // answer this HTTP status with Body
	RetryAfter string // Retry-After header sent with Status
	Body       string // body sent with Status
	Error      *RPCError
}

// RPCError is a JSON-RPC error object.
type RPCError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

func (e *RPCError) Error() string { return fmt.Sprintf("%d %s", e.Code, e.Message) }

// TooManyRequests is a provider's rate limit: HTTP 429 with a Retry-After
// header (seconds, or an HTTP date; "" sends none) and Alchemy's JSON body.
func TooManyRequests(retryAfter string) Fault {
	return Fault{Status: http.StatusTooManyRequests, RetryAfter: retryAfter,
		Body: `{"jsonrpc":"2.0","id":null,"error":{"code":429,"message":"Your app has exceeded its compute units per second capacity. If you have retries enabled, you can safely ignore this message. If not, check out https://docs.alchemy.com/reference/throughput"}}`}
}

// HTTPError answers status (e.g. 500, 502, 503) with a plain-text body.
func HTTPError(status int) Fault {
	return Fault{Status: status, Body: http.StatusText(status) + "\n"}
}

// Delay forwards the call after d.
func Delay(d time.Duration) Fault { return Fault{Delay: d} }

// Fail answers a JSON-RPC error instead of forwarding.
func Fail(code int, message string) Fault {
	return Fault{Error: &RPCError{Code: code, Message: message}}
}

// Provider selects whose wording the eth_getLogs caps use.
type Provider int

// The wordings below are the ones the providers answered, as quoted in
// public issue reports (block ranges are inclusive: from..to is to-from+1
// blocks).
const (
	// Infura: range -> -32602 "range 1000000 exceeds limit of 10000"
	// (INFURA/infura#237); results -> -32005 "query returned more than 10000
	// results" (Infura docs, status-im/nimbus-eth2#1823).
	Infura Provider = iota
	// Alchemy: range -> -32600 "You can make eth_getLogs requests with up to
	// a 500 block range. Based on your parameters, this block range should
	// work: [0x123c9b2, 0x123cba5]" (BobTheBuidler/dank_mids#772); results ->
	// -32602 "Log response size exceeded. You can make eth_getLogs requests
	// with up to a 2K block range and no limit on the response size, or you
	// can request any block range with a cap of 10K logs in the response.
	// Based on your parameters and the response size limit, this block range
	// should work: [0x0, 0x87fe9]" (ethereum/go-ethereum#25343).
	Alchemy
	// QuickNode: range -> HTTP 413 with the body
	// {"code":-32614,"message":"eth_getLogs is limited to a 10,000 range"}
	// (OffchainLabs/arbitrum-sdk#609), so an ethclient sees an
	// rpc.HTTPError, not an rpc.Error; results -> Infura's wording.
	QuickNode
)

// LogsLimit caps eth_getLogs as a provider does. Zero fields are no cap.
type LogsLimit struct {
	MaxRange   uint64 // most blocks per query, to-from+1
	MaxResults int    // most logs per answer; more is an error, never a truncation
	Provider   Provider
}

type queuedFault struct {
	fault Fault
	left  int // calls left; <0 is forever
}

// NewProxy serves a proxy to target on a free port of 127.0.0.1 until the
// test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	p := &Proxy{t: t, target: target, client: &http.Client{},
		faults: map[string][]*queuedFault{}, calls: map[string]int{}, requests: map[string][]json.RawMessage{}}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

// URL is the proxy's endpoint, for ethclient.Dial.
func (p *Proxy) URL() string { return p.srv.URL }

// Inject makes the next n calls of method ("" for any method) get f; n < 0
// is every call until Reset. Faults queue: a later Inject for the same method
// applies once the earlier one is used up.
func (p *Proxy) Inject(method string, n int, f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults[method] = append(p.faults[method], &queuedFault{fault: f, left: n})
}

// LimitLogs sets the eth_getLogs caps (the zero LogsLimit lifts them).
func (p *Proxy) LimitLogs(l LogsLimit) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.limit = l
}

// Reset drops the queued faults and the caps and zeroes the counters.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = map[string][]*queuedFault{}
	p.calls = map[string]int{}
	p.requests = map[string][]json.RawMessage{}
	p.limit = LogsLimit{}
}

// Calls is how many calls of method the proxy received, faulted ones
// included ("" counts all).
func (p *Proxy) Calls(method string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if method == "" {
		n := 0
		for _, c := range p.calls {
			n += c
		}
		return n
	}
	return p.calls[method]
}

// Params are the params of every call of method received, in order.
func (p *Proxy) Params(method string) []json.RawMessage {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]json.RawMessage(nil), p.requests[method]...)
}

type rpcRequest struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params,omitempty"`
}

type rpcResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *RPCError       `json:"error,omitempty"`
}

// take counts a call and pops the fault that applies to it, if any.
func (p *Proxy) take(req rpcRequest) (Fault, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls[req.Method]++
	p.requests[req.Method] = append(p.requests[req.Method], req.Params)
	for _, key := range []string{req.Method, ""} {
		q := p.faults[key]
		if len(q) == 0 {
			continue
		}
		f := q[0]
		if f.left > 0 {
			f.left--
			if f.left == 0 {
				p.faults[key] = q[1:]
			}
		}
		return f.fault, true
	}
	return Fault{}, false
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	batch := len(bytes.TrimSpace(body)) > 0 && bytes.TrimSpace(body)[0] == '['
	var reqs []rpcRequest
	if batch {
		err = json.Unmarshal(body, &reqs)
	} else {
		reqs = make([]rpcRequest, 1)
		err = json.Unmarshal(body, &reqs[0])
	}
	if err != nil {
		http.Error(w, "chaintest proxy: not a JSON-RPC request: "+err.Error(), http.StatusBadRequest)
		return
	}
	faults := make([]*Fault, len(reqs))
	var delay time.Duration
	var httpFault *Fault
	for i, req := range reqs {
		if f, ok := p.take(req); ok {
			faults[i] = &f
			delay = max(delay, f.Delay)
			if (f.Drop || f.Status != 0) && httpFault == nil {
				httpFault = faults[i]
			}
		}
	}
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if httpFault != nil {
		p.writeHTTPFault(w, *httpFault)
		return
	}
	resps := make([]json.RawMessage, len(reqs))
	status := http.StatusOK
	for i, req := range reqs {
		var st int
		resps[i], st = p.answer(req, faults[i])
		status = max(status, st)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if batch {
		out, _ := json.Marshal(resps)
		w.Write(out)
		return
	}
	w.Write(resps[0])
}

func (p *Proxy) writeHTTPFault(w http.ResponseWriter, f Fault) {
	if f.Drop {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			p.t.Errorf("chaintest proxy: drop the connection: %v", err)
			return
		}
		conn.Close()
		return
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	if strings.HasPrefix(f.Body, "{") {
		w.Header().Set("Content-Type", "application/json")
	} else {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	w.WriteHeader(f.Status)
	io.WriteString(w, f.Body)
}

// answer is the response to one call and the HTTP status it asks for.
func (p *Proxy) answer(req rpcRequest, f *Fault) (json.RawMessage, int) {
	if f != nil && f.Error != nil {
		return errorResponse(req.ID, f.Error), http.StatusOK
	}
	p.mu.Lock()
	limit := p.limit
	p.mu.Unlock()
	if req.Method == "eth_getLogs" && (limit.MaxRange > 0 || limit.MaxResults > 0) {
		return p.limitedLogs(req, limit)
	}
	return p.forward(req), http.StatusOK
}

func errorResponse(id json.RawMessage, e *RPCError) json.RawMessage {
	out, _ := json.Marshal(rpcResponse{JSONRPC: "2.0", ID: id, Error: e})
	return out
}

// forward sends one call to the target and returns its answer as is.
func (p *Proxy) forward(req rpcRequest) json.RawMessage {
	body, _ := json.Marshal(req)
	resp, err := p.client.Post(p.target, "application/json", bytes.NewReader(body))
	if err != nil {
		return errorResponse(req.ID, &RPCError{Code: -32603, Message: "chaintest proxy: target: " + err.Error()})
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return errorResponse(req.ID, &RPCError{Code: -32603, Message: fmt.Sprintf("chaintest proxy: target answered %s: %s %v", resp.Status, out, err)})
	}
	return out
}

// call is forward for the proxy's own queries (block tags).
func (p *Proxy) call(method string, params ...any) (json.RawMessage, error) {
	raw, _ := json.Marshal(params)
	var resp rpcResponse
	if err := json.Unmarshal(p.forward(rpcRequest{JSONRPC: "2.0", ID: json.RawMessage("1"), Method: method, Params: raw}), &resp); err != nil {
		return nil, err
	}
	if resp.Error != nil {
		return nil, resp.Error
	}
	return resp.Result, nil
}

type logFilter struct {
	FromBlock *string `json:"fromBlock"`
	ToBlock   *string `json:"toBlock"`
	BlockHash *string `json:"blockHash"`
}

// blockNumber resolves a filter's block (nil is "latest") to a number.
func (p *Proxy) blockNumber(b *string) (uint64, error) {
	tag := "latest"
	if b != nil {
		tag = *b
	}
	if n, err := hexutil.DecodeUint64(tag); err == nil {
		return n, nil
	}
	raw, err := p.call("eth_getBlockByNumber", tag, false)
	if err != nil {
		return 0, fmt.Errorf("resolve block tag %q: %w", tag, err)
	}
	var h struct {
		Number hexutil.Uint64 `json:"number"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return 0, fmt.Errorf("resolve block tag %q: %s: %w", tag, raw, err)
	}
	return uint64(h.Number), nil
}

func (p *Proxy) limitedLogs(req rpcRequest, limit LogsLimit) (json.RawMessage, int) {
	var params []logFilter
	if err := json.Unmarshal(req.Params, &params); err != nil || len(params) != 1 {
		return errorResponse(req.ID, &RPCError{Code: -32602, Message: fmt.Sprintf("chaintest proxy: eth_getLogs params %s: %v", req.Params, err)}), http.StatusOK
	}
	var from, to uint64
	if params[0].BlockHash == nil {
		var err error
		if from, err = p.blockNumber(params[0].FromBlock); err == nil {
			to, err = p.blockNumber(params[0].ToBlock)
		}
		if err != nil {
			return errorResponse(req.ID, &RPCError{Code: -32602, Message: "chaintest proxy: " + err.Error()}), http.StatusOK
		}
		if blocks := to - from + 1; to >= from && limit.MaxRange > 0 && blocks > limit.MaxRange {
			return rangeError(req.ID, limit, from, blocks)
		}
	}
	out := p.forward(req)
	if limit.MaxResults <= 0 {
		return out, http.StatusOK
	}
	var resp struct {
		Result []struct {
			BlockNumber hexutil.Uint64 `json:"blockNumber"`
		} `json:"result"`
	}
	if err := json.Unmarshal(out, &resp); err != nil || len(resp.Result) <= limit.MaxResults {
		return out, http.StatusOK
	}
	// The range that would have fit: up to the block before the first log
	// over the cap (Alchemy suggests one).
	fit := uint64(resp.Result[limit.MaxResults].BlockNumber)
	if fit > from {
		fit--
	}
	return resultsError(req.ID, limit, from, fit), http.StatusOK
}

func rangeError(id json.RawMessage, limit LogsLimit, from, blocks uint64) (json.RawMessage, int) {
	switch limit.Provider {
	case Alchemy:
		return errorResponse(id, &RPCError{Code: -32600, Message: fmt.Sprintf(
			"You can make eth_getLogs requests with up to a %d block range. Based on your parameters, this block range should work: [%#x, %#x]",
			limit.MaxRange, from, from+limit.MaxRange-1)}), http.StatusOK
	case QuickNode:
		return errorResponse(id, &RPCError{Code: -32614, Message: fmt.Sprintf(
			"eth_getLogs is limited to a %s range", thousands(limit.MaxRange))}), http.StatusRequestEntityTooLarge
	default:
		return errorResponse(id, &RPCError{Code: -32602, Message: fmt.Sprintf(
			"range %d exceeds limit of %d", blocks, limit.MaxRange)}), http.StatusOK
	}
}

func resultsError(id json.RawMessage, limit LogsLimit, from, fit uint64) json.RawMessage {
	if limit.Provider == Alchemy {
		return errorResponse(id, &RPCError{Code: -32602, Message: fmt.Sprintf(
			"Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range and no limit on the response size, or you can request any block range with a cap of %s logs in the response. Based on your parameters and the response size limit, this block range should work: [%#x, %#x]",
			kilo(limit.MaxResults), from, fit)})
	}
	return errorResponse(id, &RPCError{Code: -32005, Message: fmt.Sprintf("query returned more than %d results", limit.MaxResults)})
}

// thousands formats n with comma separators (10000 -> "10,000").
func thousands(n uint64) string {
	s := strconv.FormatUint(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// kilo is Alchemy's count style: 10000 -> "10K", 1500 -> "1500".
func kilo(n int) string {
	if n >= 1000 && n%1000 == 0 {
		return strconv.Itoa(n/1000) + "K"
	}
	return strconv.Itoa(n)
}
