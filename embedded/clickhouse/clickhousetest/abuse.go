// Package clickhousetest abuses a ClickHouse server the way broken clients,
// port probes and attackers do, for tests that the server survives them.
package clickhousetest

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
)

// Kind is one way of misusing a connection.
type Kind string

const (
	RandomBytes      Kind = "random-bytes"       // native port: 1..4096 random bytes, then close
	Newline          Kind = "newline"            // native port: "\n" (echo > /dev/tcp/host/port)
	TruncatedHello   Kind = "truncated-hello"    // native port: a valid client Hello cut short
	GarbledHello     Kind = "garbled-hello"      // native port: a Hello with random bytes flipped
	WrongPassword    Kind = "wrong-password"     // clickhouse-go as default with a password
	UnknownUser      Kind = "unknown-user"       // clickhouse-go as a user that does not exist
	ResetMidQuery    Kind = "reset-mid-query"    // a client whose socket is reset while its query runs (kill -9)
	ResetMidResult   Kind = "reset-mid-result"   // reset while the server streams a large result
	HTTPJunk         Kind = "http-junk"          // native port: an HTTP request
	HTTPPortJunk     Kind = "http-port-junk"     // HTTP port: random bytes, bad requests, bad credentials
	HalfOpen         Kind = "half-open"          // native port: connect, send nothing, close
	SlowHelloDropped Kind = "slow-hello-dropped" // native port: half a Hello, a pause, then a reset
)

// AllKinds lists every Kind; those needing the HTTP port are skipped when
// Config.HTTPAddr is empty.
var AllKinds = []Kind{RandomBytes, Newline, TruncatedHello, GarbledHello, WrongPassword, UnknownUser,
	ResetMidQuery, ResetMidResult, HTTPJunk, HTTPPortJunk, HalfOpen, SlowHelloDropped}

// Config says whom to abuse and how much.
type Config struct {
	Addr        string // native protocol, host:port
	HTTPAddr    string // HTTP interface; "" skips HTTPPortJunk
	Connections int    // total abusive connections
	Parallel    int    // at once (default 8)
	Seed        uint64 // random seed; print it on failure
	Kinds       []Kind // default AllKinds
}

// Report counts what was done.
type Report struct {
	ByKind map[Kind]int
	Total  int
}

func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d connections:", r.Total)
	for _, k := range AllKinds {
		if n := r.ByKind[k]; n > 0 {
			fmt.Fprintf(&b, " %s=%d", k, n)
		}
	}
	return b.String()
}

// Abuse opens cfg.Connections misbehaving connections, cfg.Parallel at a
// time, each of a kind drawn from cfg.Kinds with the seeded generator. The
// abuse itself cannot fail (a refused or reset connection is part of it);
// callers check that the server still answers afterwards.
func Abuse(ctx context.Context, cfg Config) Report {
	kinds := cfg.Kinds
	if len(kinds) == 0 {
		kinds = AllKinds
	}
	if cfg.HTTPAddr == "" {
		kinds = without(kinds, HTTPPortJunk)
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 8
	}
	rep := Report{ByKind: map[Kind]int{}}
	var mu sync.Mutex
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < cfg.Parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				// One generator per connection: the run is the same for a
				// seed whatever the interleaving.
				rng := rand.New(rand.NewPCG(cfg.Seed, uint64(i)))
				k := kinds[rng.IntN(len(kinds))]
				one(ctx, cfg, k, rng)
				mu.Lock()
				rep.ByKind[k]++
				rep.Total++
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < cfg.Connections && ctx.Err() == nil; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return rep
}

func without(kinds []Kind, k Kind) []Kind {
	var out []Kind
	for _, x := range kinds {
		if x != k {
			out = append(out, x)
		}
	}
	return out
}

const ioTimeout = 5 * time.Second

func one(ctx context.Context, cfg Config, k Kind, rng *rand.Rand) {
	switch k {
	case RandomBytes:
		b := make([]byte, 1+rng.IntN(4096))
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		sendAndClose(cfg.Addr, b, rng.IntN(2) == 0)
	case Newline:
		sendAndClose(cfg.Addr, []byte("\n"), false)
	case TruncatedHello:
		h := Hello("default", "")
		sendAndClose(cfg.Addr, h[:rng.IntN(len(h))], rng.IntN(2) == 0)
	case GarbledHello:
		h := Hello(randomString(rng, 12), randomString(rng, 8))
		for n := 1 + rng.IntN(4); n > 0; n-- {
			h[rng.IntN(len(h))] = byte(rng.UintN(256))
		}
		sendAndClose(cfg.Addr, h, rng.IntN(2) == 0)
	case WrongPassword:
		query(ctx, cfg.Addr, ch.Auth{Username: "default", Password: randomString(rng, 10)})
	case UnknownUser:
		query(ctx, cfg.Addr, ch.Auth{Username: "nobody_" + randomString(rng, 6)})
	case ResetMidQuery:
		resetDuring(ctx, cfg.Addr, "SELECT sleepEachRow(0.05) FROM numbers(40) FORMAT Null", time.Duration(20+rng.IntN(200))*time.Millisecond)
	case ResetMidResult:
		resetDuring(ctx, cfg.Addr, "SELECT number, toString(number) FROM numbers(5000000)", time.Duration(5+rng.IntN(60))*time.Millisecond)
	case HTTPJunk:
		sendAndClose(cfg.Addr, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), false)
	case HTTPPortJunk:
		httpJunk(ctx, cfg.HTTPAddr, rng)
	case HalfOpen:
		sendAndClose(cfg.Addr, nil, rng.IntN(2) == 0)
	case SlowHelloDropped:
		h := Hello("default", "")
		c, err := net.DialTimeout("tcp", cfg.Addr, ioTimeout)
		if err != nil {
			return
		}
		_, _ = c.Write(h[:len(h)/2])
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		reset(c)
	}
}

// sendAndClose writes b, reads whatever comes back for a moment (the server
// answers most junk with an exception packet), then closes, with a TCP
// reset instead of a FIN when abrupt is set (a killed client).
func sendAndClose(addr string, b []byte, abrupt bool) {
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		return
	}
	if len(b) > 0 {
		_ = c.SetWriteDeadline(time.Now().Add(ioTimeout))
		_, _ = c.Write(b)
	}
	if abrupt {
		reset(c)
		return
	}
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	_, _ = io.Copy(io.Discard, c)
	c.Close()
}

// reset closes c with SO_LINGER 0: the peer sees a connection reset, as
// when the client process is killed.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}

func query(ctx context.Context, addr string, auth ch.Auth) {
	conn, err := ch.Open(&ch.Options{Addr: []string{addr}, Auth: auth, DialTimeout: ioTimeout, ReadTimeout: ioTimeout})
	if err != nil {
		return
	}
	defer conn.Close()
	var one uint8
	_ = conn.QueryRow(ctx, "SELECT 1").Scan(&one)
}

// resetDuring runs q with clickhouse-go and resets its socket after d.
func resetDuring(ctx context.Context, addr, q string, d time.Duration) {
	var mu sync.Mutex
	var conns []net.Conn
	conn, err := ch.Open(&ch.Options{
		Addr: []string{addr}, DialTimeout: ioTimeout, ReadTimeout: 30 * time.Second,
		DialContext: func(ctx context.Context, a string) (net.Conn, error) {
			c, err := (&net.Dialer{Timeout: ioTimeout}).DialContext(ctx, "tcp", a)
			if err == nil {
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
			return c, err
		},
	})
	if err != nil {
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		rows, err := conn.Query(ctx, q)
		if err != nil {
			return
		}
		for rows.Next() {
		}
		rows.Close()
	}()
	select {
	case <-done:
	case <-time.After(d):
	}
	mu.Lock()
	for _, c := range conns {
		reset(c)
	}
	mu.Unlock()
	<-done
	conn.Close()
}

func httpJunk(ctx context.Context, addr string, rng *rand.Rand) {
	switch rng.IntN(4) {
	case 0:
		b := make([]byte, 1+rng.IntN(2048))
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		sendAndClose(addr, b, rng.IntN(2) == 0)
	case 1:
		sendAndClose(addr, []byte("POST /?query=SELECT%201 HTTP/1.1\r\nContent-Length: 100000\r\n\r\nabc"), true)
	default:
		cl := &http.Client{Timeout: ioTimeout}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/", strings.NewReader(randomString(rng, 40)))
		if err != nil {
			return
		}
		req.SetBasicAuth("nobody_"+randomString(rng, 4), randomString(rng, 8))
		if resp, err := cl.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
}

// Hello is a native-protocol client Hello packet (packet type 0): client
// name, version 24.8, protocol revision 54460, database, user, password.
func Hello(user, password string) []byte {
	var b bytes.Buffer
	uvarint(&b, 0)
	str(&b, "hedgeline-abuse")
	uvarint(&b, 24)
	uvarint(&b, 8)
	uvarint(&b, 54460)
	str(&b, "default")
	str(&b, user)
	str(&b, password)
	return b.Bytes()
}

func uvarint(b *bytes.Buffer, v uint64) {
	var tmp [binary.MaxVarintLen64]byte
	b.Write(tmp[:binary.PutUvarint(tmp[:], v)])
}

func str(b *bytes.Buffer, s string) {
	uvarint(b, uint64(len(s)))
	b.WriteString(s)
}

func randomString(rng *rand.Rand, n int) string {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = letters[rng.IntN(len(letters))]
	}
	return string(b)
}
