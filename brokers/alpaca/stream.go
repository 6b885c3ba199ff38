package alpaca

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/coder/websocket"
	"github.com/hedgeline/hedgeline/brokers"
)

// Update is one order event of the trade_updates stream.
type Update struct {
	// Event is Alpaca's event: new, fill, partial_fill, canceled,
	// rejected, expired, and the rarer ones (pending_new, replaced, ...).
	Event         string
	BrokerOrderID string
	ClientOrderID string
	// Status is the order object of the event, mapped like Status does.
	Status brokers.OrderStatus
	// At is the event's timestamp (the order's updated_at when absent).
	At time.Time
	// Err is set when the event's order cannot be mapped: an unknown
	// status (wraps brokers.ErrRejected and ErrUnknownStatus) or a fill
	// without filled_avg_price. Status is zero then.
	Err error
}

// StreamOptions tunes Stream. Zero values take the defaults.
type StreamOptions struct {
	// MinBackoff and MaxBackoff bound the wait between reconnections,
	// doubling from min to max (defaults 500 ms and 30 s), back to min
	// after a connection that reached listening.
	MinBackoff, MaxBackoff time.Duration
	// PingInterval detects a silently dead connection (default 30 s).
	PingInterval time.Duration
	// OnListening is called each time a connection is authorized and
	// listening. Events sent while disconnected are not replayed: the
	// caller reconciles open orders by polling then.
	OnListening func()
	// OnDisconnect is called with the cause each time a connection ends
	// before ctx does.
	OnDisconnect func(err error)
}

// StreamURL is the trade_updates address: the base URL's host, path
// /stream, ws or wss by scheme.
func (b *Broker) StreamURL() string {
	u, _ := url.Parse(b.base) // validated in New
	if u.Scheme == "https" {
		u.Scheme = "wss"
	} else {
		u.Scheme = "ws"
	}
	u.Path = "/stream"
	u.RawQuery = ""
	return u.String()
}

// Stream listens to trade_updates and sends every order event to out until
// ctx ends, reconnecting with backoff after a drop. It returns ctx's error,
// or an error wrapping ErrUnauthorized when the stream refuses the keys
// (retrying would not help).
func (b *Broker) Stream(ctx context.Context, opts StreamOptions, out chan<- Update) error {
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 500 * time.Millisecond
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(30*time.Second, opts.MinBackoff)
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = 30 * time.Second
	}
	wait := opts.MinBackoff
	for {
		listened, err := b.streamOnce(ctx, opts, out)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, ErrUnauthorized) {
			return fmt.Errorf("alpaca trade_updates: %w", err)
		}
		if listened {
			wait = opts.MinBackoff
		}
		b.log.Warn("trade_updates stream disconnected, reconnecting", "err", err, "retry_in", wait)
		if opts.OnDisconnect != nil {
			opts.OnDisconnect(err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, opts.MaxBackoff)
	}
}

// streamMsg is every message of the stream: {"stream": ..., "data": ...}.
type streamMsg struct {
	Stream string          `json:"stream"`
	Data   json.RawMessage `json:"data"`
}

type tradeUpdate struct {
	Event     string     `json:"event"`
	Timestamp *time.Time `json:"timestamp"`
	Order     order      `json:"order"`
}

// streamOnce runs one connection; listened reports whether it got as far as
// listening.
func (b *Broker) streamOnce(ctx context.Context, opts StreamOptions, out chan<- Update) (listened bool, err error) {
	addr := b.StreamURL()
	dialCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(dialCtx, addr, nil)
	if err != nil {
		return false, fmt.Errorf("dialing %s: %w", addr, err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(1 << 20)

	// The secret travels only inside this frame, never into an error.
	auth := map[string]string{"action": "auth", "key": b.cfg.KeyID, "secret": b.cfg.SecretKey}
	if err := writeJSONMsg(dialCtx, conn, auth); err != nil {
		return false, fmt.Errorf("sending auth: %w", err)
	}
	msg, err := readMsg(dialCtx, conn)
	if err != nil {
		return false, fmt.Errorf("waiting for authorization: %w", err)
	}
	var authz struct {
		Status string `json:"status"`
		Action string `json:"action"`
	}
	if msg.Stream != "authorization" || json.Unmarshal(msg.Data, &authz) != nil {
		return false, fmt.Errorf("want the authorization answer, got stream %q", msg.Stream)
	}
	if authz.Status != "authorized" {
		return false, fmt.Errorf("%w: stream authorization status %q", ErrUnauthorized, authz.Status)
	}
	listen := map[string]any{"action": "listen", "data": map[string]any{"streams": []string{"trade_updates"}}}
	if err := writeJSONMsg(dialCtx, conn, listen); err != nil {
		return false, fmt.Errorf("sending listen: %w", err)
	}
	if msg, err = readMsg(dialCtx, conn); err != nil {
		return false, fmt.Errorf("waiting for listening: %w", err)
	}
	var ack struct {
		Streams []string `json:"streams"`
	}
	if msg.Stream != "listening" || json.Unmarshal(msg.Data, &ack) != nil || !slices.Contains(ack.Streams, "trade_updates") {
		return false, fmt.Errorf("listen not acknowledged for trade_updates: stream %q data %s", msg.Stream, msg.Data)
	}
	b.log.Info("trade_updates stream listening", "url", addr)
	if opts.OnListening != nil {
		opts.OnListening()
	}

	connCtx, stop := context.WithCancel(ctx)
	defer stop()
	go b.keepAlive(connCtx, conn, opts.PingInterval)
	for {
		msg, err := readMsg(connCtx, conn)
		if err != nil {
			return true, fmt.Errorf("reading: %w", err)
		}
		if msg.Stream != "trade_updates" {
			continue
		}
		u, err := parseUpdate(msg.Data)
		if err != nil {
			b.log.Error("unreadable trade update", "err", err)
			continue
		}
		select {
		case out <- u:
		case <-ctx.Done():
			return true, ctx.Err()
		}
	}
}

// keepAlive pings; a ping without pong closes the connection, so the read
// loop ends and Stream reconnects.
func (b *Broker) keepAlive(ctx context.Context, conn *websocket.Conn, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			pctx, cancel := context.WithTimeout(ctx, every)
			err := conn.Ping(pctx)
			cancel()
			if err != nil && ctx.Err() == nil {
				conn.CloseNow()
				return
			}
		}
	}
}

func parseUpdate(data []byte) (Update, error) {
	var tu tradeUpdate
	if err := json.Unmarshal(data, &tu); err != nil {
		return Update{}, fmt.Errorf("decoding: %w", err)
	}
	if tu.Order.ID == "" {
		return Update{}, fmt.Errorf("event %q has no order id", tu.Event)
	}
	u := Update{Event: tu.Event, BrokerOrderID: tu.Order.ID, ClientOrderID: tu.Order.ClientOrderID}
	st, err := statusOf(tu.Order)
	if err != nil {
		u.Err = fmt.Errorf("alpaca trade update %s of order %s: %w", tu.Event, tu.Order.ID, err)
	} else {
		u.Status = st
		u.At = st.UpdatedAt
	}
	if tu.Timestamp != nil {
		u.At = *tu.Timestamp
	}
	return u, nil
}

func writeJSONMsg(ctx context.Context, conn *websocket.Conn, v any) error {
	buf, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return conn.Write(ctx, websocket.MessageText, buf)
}

// readMsg reads one message, text or binary (the paper stream sends binary
// frames).
func readMsg(ctx context.Context, conn *websocket.Conn) (streamMsg, error) {
	_, data, err := conn.Read(ctx)
	if err != nil {
		return streamMsg{}, err
	}
	var m streamMsg
	if err := json.Unmarshal(data, &m); err != nil {
		return streamMsg{}, fmt.Errorf("decoding message: %w", err)
	}
	return m, nil
}

var _ brokers.Streamer = (*Broker)(nil)

// Updates is Stream as a brokers.Streamer: every trade update is sent as a
// brokers.Update (Err set when its order cannot be mapped), listening(true)
// each time a connection listens and listening(false) each time one drops.
// It returns ctx's error, or ErrUnauthorized when the stream refuses the
// keys.
func (b *Broker) Updates(ctx context.Context, out chan<- brokers.Update, listening func(bool)) error {
	if listening == nil {
		listening = func(bool) {}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	raw := make(chan Update)
	done := make(chan error, 1)
	go func() {
		done <- b.Stream(ctx, StreamOptions{
			OnListening:  func() { listening(true) },
			OnDisconnect: func(error) { listening(false) },
		}, raw)
	}()
	for {
		select {
		case err := <-done:
			return err
		case u := <-raw:
			select {
			case out <- brokers.Update{ClientOrderID: u.ClientOrderID, BrokerOrderID: u.BrokerOrderID, Status: u.Status, Err: u.Err}:
			case <-ctx.Done():
				return <-done
			}
		}
	}
}
