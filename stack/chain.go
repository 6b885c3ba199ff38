package stack

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hedgeline/hedgeline/sources/chain"
)

// OpenChain dials c.RPCURL and builds the chain source on a Kafka client;
// closeRPC releases the RPC connection once the source has stopped.
func OpenChain(ctx context.Context, c Chain, kc *kgo.Client, log *slog.Logger, progress func(chain.Progress)) (src *chain.Source, closeRPC func(), err error) {
	client, err := ethclient.DialContext(ctx, c.RPCURL)
	if err != nil {
		return nil, nil, fmt.Errorf("chain rpc %s: %w", redactURL(c.RPCURL), err)
	}
	cfg := c.Source
	cfg.Client, cfg.Kafka, cfg.Logger, cfg.Progress = client, kc, log, progress
	src, err = chain.New(cfg)
	if err != nil {
		client.Close()
		return nil, nil, err
	}
	return src, client.Close, nil
}

// redactURL keeps an RPC URL's scheme and host: providers put API keys in
// the path or query.
func redactURL(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return "(rpc url)"
	}
	host, _, _ := strings.Cut(rest, "/")
	if _, h, ok := strings.Cut(host, "@"); ok {
		host = h
	}
	return scheme + "://" + host + "/..."
}
