package alpacatest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/coder/websocket"
)

// streamState is the /stream side of the server, guarded by Server.mu.
type streamState struct {
	conns     map[*streamConn]struct{} // listening connections
	accepted  int                      // websocket connections accepted
	listening int                      // connections that reached listening
	received  [][]byte                 // client messages, in order
	pushed    [][]byte                 // trade updates sent to listeners
	down      bool
	changed   chan struct{} // closed on every change of listening
}

// envelope is every stream message, "stream" first as Alpaca sends it.
type envelope struct {
	Stream string `json:"stream"`
	Data   any    `json:"data"`
}

type streamConn struct {
	c   *websocket.Conn
	out chan []byte
}

// outBuffer is how many messages a connection may lag behind before it is
// dropped, as Alpaca drops slow consumers.
const outBuffer = 4096

// Push sends raw (a whole {"stream":...,"data":...} message) to every
// listening connection.
func (s *Server) Push(raw string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pushLocked([]byte(raw))
}

func (s *Server) pushLocked(msg []byte) {
	s.stream.pushed = append(s.stream.pushed, msg)
	for c := range s.stream.conns {
		select {
		case c.out <- msg:
		default:
			s.dropLocked(c)
		}
	}
}

// DropStreams kills every stream connection without a close frame, as a
// network failure does. Events pushed until the client is listening again
// are lost for it (Alpaca does not replay them).
func (s *Server) DropStreams() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.stream.conns {
		s.dropLocked(c)
	}
}

func (s *Server) dropLocked(c *streamConn) {
	delete(s.stream.conns, c)
	_ = c.c.CloseNow()
}

// SetStreamDown refuses new stream connections (503 before the upgrade)
// while down, and drops the current ones when going down.
func (s *Server) SetStreamDown(down bool) {
	s.mu.Lock()
	s.stream.down = down
	s.mu.Unlock()
	if down {
		s.DropStreams()
	}
}

// StreamsAccepted is how many websocket connections were accepted.
func (s *Server) StreamsAccepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stream.accepted
}

// Listening is how many connections reached listening on trade_updates
// (all of them, dropped ones included).
func (s *Server) Listening() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stream.listening
}

// ListeningNow is how many connections are listening at the moment.
func (s *Server) ListeningNow() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.stream.conns)
}

// WaitListening waits until n connections in all reached listening.
func (s *Server) WaitListening(n int, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		got := s.stream.listening
		if s.stream.changed == nil {
			s.stream.changed = make(chan struct{})
		}
		ch := s.stream.changed
		s.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ch:
		case <-deadline.C:
			return fmt.Errorf("alpacatest: %d stream connections listening after %s, want %d", got, timeout, n)
		}
	}
}

// StreamMessages returns every message stream clients sent, in order.
func (s *Server) StreamMessages() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.stream.received)
}

// Pushed returns every trade update sent to listeners, in order.
func (s *Server) Pushed() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.stream.pushed)
}

// serveStream is /stream: auth, listen, then trade_updates in binary
// frames, as the paper endpoint sends them.
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	down := s.stream.down
	s.mu.Unlock()
	if down {
		http.Error(w, "service unavailable", http.StatusServiceUnavailable)
		return
	}
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)
	s.mu.Lock()
	s.stream.accepted++
	s.mu.Unlock()
	ctx := r.Context()
	hs, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	read := func(ctx context.Context) (map[string]any, error) {
		_, data, err := c.Read(ctx)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		s.stream.received = append(s.stream.received, data)
		s.mu.Unlock()
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("not json: %w", err)
		}
		return m, nil
	}
	send := func(msg string) error { return c.Write(hs, websocket.MessageBinary, []byte(msg)) }

	auth, err := read(hs)
	if err != nil {
		return
	}
	// Both documented forms: {"action":"auth","key","secret"} and the older
	// {"action":"authenticate","data":{"key_id","secret_key"}}.
	key, secret := auth["key"], auth["secret"]
	if auth["action"] == "authenticate" {
		d, _ := auth["data"].(map[string]any)
		key, secret = d["key_id"], d["secret_key"]
	}
	if (auth["action"] != "auth" && auth["action"] != "authenticate") || key != s.KeyID || secret != s.SecretKey {
		_ = send(`{"stream":"authorization","data":{"action":"authenticate","status":"unauthorized"}}`)
		_ = c.Close(websocket.StatusPolicyViolation, "unauthorized")
		return
	}
	if send(`{"stream":"authorization","data":{"action":"authenticate","status":"authorized"}}`) != nil {
		return
	}
	listen, err := read(hs)
	if err != nil {
		return
	}
	var streams []string
	if d, ok := listen["data"].(map[string]any); ok && listen["action"] == "listen" {
		raw, _ := d["streams"].([]any)
		for _, v := range raw {
			if v == "trade_updates" {
				streams = append(streams, "trade_updates")
			}
		}
	}
	ack, _ := json.Marshal(envelope{Stream: "listening", Data: map[string]any{"streams": append([]string{}, streams...)}})
	if send(string(ack)) != nil || len(streams) == 0 {
		return
	}

	sc := &streamConn{c: c, out: make(chan []byte, outBuffer)}
	s.mu.Lock()
	if s.stream.down {
		s.mu.Unlock()
		return
	}
	s.stream.conns[sc] = struct{}{}
	s.stream.listening++
	if s.stream.changed != nil {
		close(s.stream.changed)
		s.stream.changed = nil
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.stream.conns, sc)
		s.mu.Unlock()
	}()

	// Reading answers the client's pings and sees it leave.
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		for {
			if _, err := read(ctx); err != nil {
				return
			}
		}
	}()
	for {
		select {
		case <-gone:
			return
		case msg := <-sc.out:
			if err := c.Write(ctx, websocket.MessageBinary, msg); err != nil {
				if !errors.Is(err, context.Canceled) {
					_ = c.CloseNow()
				}
				return
			}
		}
	}
}
