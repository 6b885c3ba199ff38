package chain

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/ethereum/go-ethereum/rpc"
)

// Which failures are retried, which shrink the range, and which are an
// answer: a mistake here either hammers a provider or skips its limits.
func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want errKind
	}{
		{rpc.HTTPError{StatusCode: 429, Status: "429 Too Many Requests"}, errTransient},
		{rpc.HTTPError{StatusCode: 502, Status: "502 Bad Gateway"}, errTransient},
		{rpc.HTTPError{StatusCode: 413, Status: "413 Request Entity Too Large"}, errTooLarge},
		{errors.New("query returned more than 10000 results"), errTooLarge},
		{errors.New("range 5000 exceeds limit of 2000"), errTooLarge},
		{errors.New("Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range"), errTooLarge},
		{errors.New("eth_getLogs is limited to a 10,000 range"), errTooLarge},
		{errors.New("Your app has exceeded its compute units per second capacity"), errTransient},
		{errors.New("execution reverted"), errAnswer},
		{errors.New("missing trie node 1234 (path )"), errAnswer},
		{fmt.Errorf("eth_getLogs 1-5: %w", context.DeadlineExceeded), errTransient},
		{context.Canceled, errFatal},
		{errors.New("connection reset by peer"), errTransient},
		{jsonRPCError{code: -32005, msg: "query returned more than 10000 results"}, errTooLarge},
		{jsonRPCError{code: 3, msg: "execution reverted", data: "0x14aebe68"}, errAnswer},
	} {
		if got := classify(tc.err); got != tc.want {
			t.Errorf("classify(%q) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

// jsonRPCError is shaped like go-ethereum's JSON-RPC errors: every one has
// ErrorCode and ErrorData, whether or not it carries data.
type jsonRPCError struct {
	code int
	msg  string
	data any
}

func (e jsonRPCError) Error() string  { return e.msg }
func (e jsonRPCError) ErrorCode() int { return e.code }
func (e jsonRPCError) ErrorData() any { return e.data }
