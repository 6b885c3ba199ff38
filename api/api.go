// Package api is the JSON REST API of `hedgeline serve`: the ClickHouse
// views through the same typed queries as the CLI (package sinks), health
// with Kafka and ClickHouse readiness and consumer lag, and every envelope
// of one aggregate read from its events topic. openapi.json describes it.
package api

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hedgeline/hedgeline/api/web"
	"github.com/hedgeline/hedgeline/internal/kafkasec"
	"github.com/hedgeline/hedgeline/sinks"
	"github.com/hedgeline/hedgeline/topics"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

//go:embed openapi.json
var openAPI []byte

// Routes are the paths the API serves; openapi.json documents each.
var Routes = []string{
	"/api/health", "/api/pnl", "/api/pnl/history", "/api/positions", "/api/trades", "/api/orders",
	"/api/aggregates/{type}/{id}/events", "/api/openapi.json",
}

// Bounds of request parameters.
const (
	MaxLimit = 100000
	// DefaultBucket of /api/pnl/history. Only buckets with fills are
	// returned, so a small bucket costs at most one row per fill.
	DefaultBucket = time.Hour
)

// OrderStatuses are the values of the orders endpoint's status filter.
var OrderStatuses = []string{"Pending", "Submitted", "PartiallyFilled", "Filled", "Failed"}

// Config is what the API reads.
type Config struct {
	ClickHouse sinks.Config
	// Kafka is the cluster (seeds, TLS, SASL); no seeds leaves readiness
	// without Kafka and the aggregate events endpoint unavailable (503).
	Kafka kafkasec.Cluster
	Log   *slog.Logger
	// Timeout bounds each request's work (default 30 s); health checks
	// have 3 s each.
	Timeout time.Duration
}

// Server serves the API. ClickHouse is opened (and migrated where the user
// may, so an empty database answers with empty arrays) on first use, not at start: serve
// comes up and reports liveness while ClickHouse is still down.
type Server struct {
	cfg Config
	kcl *kgo.Client
	adm *kadm.Client

	mu sync.Mutex
	db *sinks.DB
}

// New makes a server; Close releases its connections.
func New(cfg Config) (*Server, error) {
	if err := cfg.ClickHouse.Validate(); err != nil {
		return nil, fmt.Errorf("api: clickhouse: %w", err)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	s := &Server{cfg: cfg}
	if len(cfg.Kafka.Seeds) > 0 {
		cl, err := kgo.NewClient(s.kafkaOpts()...)
		if err != nil {
			return nil, fmt.Errorf("api: kafka client for %v: %w", cfg.Kafka.Seeds, err)
		}
		s.kcl, s.adm = cl, kadm.NewClient(cl)
	}
	return s, nil
}

func (s *Server) kafkaOpts() []kgo.Opt { return topics.ClientOpts(s.cfg.Kafka) }

// Close closes the ClickHouse pool and the Kafka client.
func (s *Server) Close() error {
	if s.kcl != nil {
		s.kcl.Close()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db != nil {
		err := s.db.Close()
		s.db = nil
		return err
	}
	return nil
}

// database opens and migrates ClickHouse once; a failure is retried by the
// next request.
func (s *Server) database(ctx context.Context) (*sinks.DB, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db != nil {
		return s.db, nil
	}
	db, err := sinks.Open(ctx, s.cfg.ClickHouse)
	if err != nil {
		return nil, err
	}
	// A reader need not be able to migrate (a read-only user, a database
	// migrated by a newer binary): the views that exist are still served.
	if _, err := sinks.Migrate(ctx, db); err != nil {
		s.cfg.Log.Warn("api: clickhouse migrations not applied; serving the views that exist", "clickhouse", s.cfg.ClickHouse.Addr, "err", err)
	}
	s.db = db
	return db, nil
}

// Handler routes the API and the page (package web) at /; anything else
// is a JSON 404.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/health", s.health)
	mux.HandleFunc("GET /api/pnl", s.pnl)
	mux.HandleFunc("GET /api/pnl/history", s.pnlHistory)
	mux.HandleFunc("GET /api/positions", s.positions)
	mux.HandleFunc("GET /api/trades", s.trades)
	mux.HandleFunc("GET /api/orders", s.orders)
	mux.HandleFunc("GET /api/aggregates/{type}/{id}/events", s.aggregateEvents)
	mux.HandleFunc("GET /api/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openAPI)
	})
	notFound := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead && (r.URL.Path == "/" || slices.ContainsFunc(Routes, func(p string) bool { return p == r.URL.Path })) {
			writeError(w, http.StatusMethodNotAllowed, fmt.Errorf("method %s not allowed on %s (GET only)", r.Method, r.URL.Path))
			return
		}
		writeError(w, http.StatusNotFound, fmt.Errorf("no such path %s (see /api/openapi.json)", r.URL.Path))
	})
	// The page at / and its files; an unknown asset is the same JSON 404.
	page := web.Handler(notFound)
	mux.Handle("GET /{$}", page)
	mux.Handle("GET "+web.AssetPrefix, page)
	mux.Handle("/", notFound)
	return mux
}

// paramError is a bad request parameter: 400 naming it.
type paramError struct {
	name string
	err  error
}

func (e *paramError) Error() string { return fmt.Sprintf("parameter %s: %v", e.name, e.err) }

func badParam(name string, format string, a ...any) error {
	return &paramError{name: name, err: fmt.Errorf(format, a...)}
}

// query checks r's parameters are all among allowed (a misspelt filter
// must not silently return everything) and gives a reader of them.
func query(r *http.Request, allowed ...string) (func(string) string, error) {
	q := r.URL.Query()
	for k, v := range q {
		if !slices.Contains(allowed, k) {
			return nil, badParam(k, "unknown parameter (this path takes %s)", strings.Join(allowed, ", "))
		}
		if len(v) > 1 {
			return nil, badParam(k, "given %d times", len(v))
		}
	}
	return q.Get, nil
}

var symbolRE = regexp.MustCompile(`^[A-Z0-9][A-Z0-9.\-]{0,31}$`)

// filter reads symbol, from, to and (when limited) limit.
func filter(get func(string) string, limited bool) (sinks.Filter, error) {
	var f sinks.Filter
	for _, sym := range strings.Split(get("symbol"), ",") {
		sym = strings.ToUpper(strings.TrimSpace(sym))
		if sym == "" {
			continue
		}
		if !symbolRE.MatchString(sym) {
			return f, badParam("symbol", "%q is not a symbol (letters, digits, '.', '-')", sym)
		}
		f.Symbols = append(f.Symbols, sym)
	}
	var err error
	if f.From, err = sinks.ParseTime(get("from")); err != nil {
		return f, badParam("from", "%v", err)
	}
	if f.To, err = sinks.ParseTime(get("to")); err != nil {
		return f, badParam("to", "%v", err)
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.To.After(f.From) {
		return f, badParam("to", "%s is not after from %s", f.To.Format(time.RFC3339Nano), f.From.Format(time.RFC3339Nano))
	}
	if limited {
		f.Limit = sinks.DefaultLimit
		if v := get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > MaxLimit {
				return f, badParam("limit", "%q is not a whole number in [1, %d]", v, MaxLimit)
			}
			f.Limit = n
		}
	}
	return f, nil
}

// serveQuery runs one typed query over the filter and writes its rows.
func serveQuery[T any](s *Server, w http.ResponseWriter, r *http.Request, f sinks.Filter, run func(*sinks.DB, context.Context, sinks.Filter) ([]T, error)) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
	defer cancel()
	db, err := s.database(ctx)
	if err != nil {
		s.fail(w, r, http.StatusServiceUnavailable, fmt.Errorf("clickhouse unavailable: %w", err))
		return
	}
	rows, err := run(db, ctx, f)
	if err != nil {
		s.fail(w, r, http.StatusBadGateway, err)
		return
	}
	if rows == nil {
		rows = []T{}
	}
	writeJSON(w, http.StatusOK, rows)
}

func (s *Server) pnl(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r, false, "symbol", "from", "to")
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err)
		return
	}
	serveQuery(s, w, r, f, (*sinks.DB).PnL)
}

func (s *Server) positions(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r, false, "symbol", "from", "to")
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err)
		return
	}
	serveQuery(s, w, r, f, (*sinks.DB).Positions)
}

func (s *Server) trades(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r, true, "symbol", "from", "to", "limit")
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err)
		return
	}
	serveQuery(s, w, r, f, (*sinks.DB).Trades)
}

func (s *Server) orders(w http.ResponseWriter, r *http.Request) {
	get, err := query(r, "symbol", "from", "to", "limit", "status")
	var f sinks.Filter
	if err == nil {
		f, err = filter(get, true)
	}
	if err == nil {
		for _, st := range strings.Split(get("status"), ",") {
			if st = strings.TrimSpace(st); st == "" {
				continue
			}
			i := slices.IndexFunc(OrderStatuses, func(k string) bool { return strings.EqualFold(k, st) })
			if i < 0 {
				err = badParam("status", "%q is not one of %s", st, strings.Join(OrderStatuses, ", "))
				break
			}
			f.Statuses = append(f.Statuses, OrderStatuses[i])
		}
	}
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err)
		return
	}
	serveQuery(s, w, r, f, (*sinks.DB).Orders)
}

func (s *Server) pnlHistory(w http.ResponseWriter, r *http.Request) {
	get, err := query(r, "symbol", "from", "to", "bucket")
	var f sinks.Filter
	if err == nil {
		f, err = filter(get, false)
	}
	bucket := DefaultBucket
	if err == nil && get("bucket") != "" {
		bucket, err = parseBucket(get("bucket"))
	}
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err)
		return
	}
	serveQuery(s, w, r, f, func(db *sinks.DB, ctx context.Context, f sinks.Filter) ([]sinks.PnLPoint, error) {
		return db.PnLHistory(ctx, f, bucket)
	})
}

// parseBucket takes a Go duration (90s, 5m, 1h) or a number of seconds,
// whole seconds from 1 s to 366 days.
func parseBucket(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		n, nerr := strconv.ParseUint(v, 10, 32)
		if nerr != nil {
			return 0, badParam("bucket", "%q is not a duration (5m, 1h) or a number of seconds", v)
		}
		d = time.Duration(n) * time.Second
	}
	if d < time.Second || d%time.Second != 0 || d > 366*24*time.Hour {
		return 0, badParam("bucket", "%q is not a whole number of seconds from 1s to 366 days", v)
	}
	return d, nil
}

func parseFilter(r *http.Request, limited bool, allowed ...string) (sinks.Filter, error) {
	get, err := query(r, allowed...)
	if err != nil {
		return sinks.Filter{}, err
	}
	return filter(get, limited)
}

func (s *Server) aggregateEvents(w http.ResponseWriter, r *http.Request) {
	typ, id := r.PathValue("type"), r.PathValue("id")
	var err error
	if _, err = query(r); err == nil {
		if _, terr := topics.TopicsFor(typ); terr != nil {
			err = badParam("type", "%q is not an aggregate type (%s)", typ, strings.Join(topics.AggregateTypes(), ", "))
		} else if id == "" {
			err = badParam("id", "empty")
		}
	}
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err)
		return
	}
	if s.kcl == nil {
		s.fail(w, r, http.StatusServiceUnavailable, errors.New("aggregate events need Kafka: start serve with --brokers"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
	defer cancel()
	evs, err := AggregateEvents(ctx, s.kafkaOpts(), typ, id)
	if err != nil {
		s.fail(w, r, http.StatusBadGateway, err)
		return
	}
	if len(evs) == 0 {
		s.fail(w, r, http.StatusNotFound, fmt.Errorf("no events of %s %q", typ, id))
		return
	}
	writeJSON(w, http.StatusOK, evs)
}

// AggregateEvents reads the events topic of typ to its current end and
// returns every envelope of aggregate id, by sequence (an aggregate's
// events share a partition, so this is also their log order). Records that
// are not envelopes are skipped: they belong to no aggregate.
func AggregateEvents(ctx context.Context, opts []kgo.Opt, typ, id string) ([]topics.EventEnvelope, error) {
	t, err := topics.TopicsFor(typ)
	if err != nil {
		return nil, err
	}
	out := []topics.EventEnvelope{}
	err = topics.ReadToEnd(ctx, opts, t.Events, func(rec *kgo.Record) error {
		env, err := topics.DecodeEnvelope(rec.Value)
		if err == nil && env.AggregateType == typ && env.AggregateID == id {
			out = append(out, env)
		}
		return nil
	})
	if errors.Is(err, topics.ErrNoTopic) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", t.Events, err)
	}
	slices.SortStableFunc(out, func(a, b topics.EventEnvelope) int { return compareU64(a.Sequence, b.Sequence) })
	return out, nil
}

func compareU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Check is one dependency's reachability.
type Check struct {
	OK        bool    `json:"ok"`
	LatencyMS float64 `json:"latency_ms"`
	Error     string  `json:"error,omitempty"`
}

// GroupLag is one consumer group's lag: records behind the end, in total
// and per topic.
type GroupLag struct {
	State   string           `json:"state"`
	Total   int64            `json:"total"`
	ByTopic map[string]int64 `json:"by_topic"`
	Error   string           `json:"error,omitempty"`
}

// Health is the body of /api/health.
type Health struct {
	Status     string              `json:"status"` // "live", "ready" or "not ready"
	ClickHouse *Check              `json:"clickhouse,omitempty"`
	Kafka      *Check              `json:"kafka,omitempty"`
	Lag        map[string]GroupLag `json:"consumer_lag,omitempty"`
}

// health is liveness (200 while the process serves) unless ready=true asks
// for readiness: ClickHouse and (with --brokers) Kafka reachable, plus the
// lag of every consumer group; 503 when a dependency is not.
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	get, err := query(r, "ready")
	ready := false
	if err == nil && get("ready") != "" {
		if ready, err = strconv.ParseBool(get("ready")); err != nil {
			err = badParam("ready", "%q is not true or false", get("ready"))
		}
	}
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err)
		return
	}
	if !ready {
		writeJSON(w, http.StatusOK, Health{Status: "live"})
		return
	}
	h := s.Readiness(r.Context())
	code := http.StatusOK
	if h.Status != "ready" {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, h)
}

// Readiness checks the dependencies, each within 3 s.
func (s *Server) Readiness(ctx context.Context) Health {
	h := Health{Status: "ready"}
	timed := func(fn func(context.Context) error) *Check {
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		start := time.Now()
		err := fn(ctx)
		c := &Check{OK: err == nil, LatencyMS: float64(time.Since(start).Microseconds()) / 1000}
		if err != nil {
			c.Error = err.Error()
			h.Status = "not ready"
		}
		return c
	}
	h.ClickHouse = timed(func(ctx context.Context) error {
		db, err := s.database(ctx)
		if err != nil {
			return err
		}
		return db.Conn().Ping(ctx)
	})
	if s.adm == nil {
		return h
	}
	h.Kafka = timed(func(ctx context.Context) error {
		_, err := s.adm.ListBrokers(ctx)
		return err
	})
	if !h.Kafka.OK {
		return h
	}
	lagCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	h.Lag = map[string]GroupLag{}
	groups, err := s.adm.ListGroups(lagCtx)
	if err != nil {
		h.Lag["*"] = GroupLag{Error: fmt.Sprintf("list groups: %v", err)}
		return h
	}
	lags, err := s.adm.Lag(lagCtx, groups.Groups()...)
	if err != nil {
		h.Lag["*"] = GroupLag{Error: fmt.Sprintf("lag: %v", err)}
		return h
	}
	for _, l := range lags.Sorted() {
		g := GroupLag{State: l.State, ByTopic: map[string]int64{}}
		if e := l.Error(); e != nil {
			g.Error = e.Error()
		}
		for topic, tl := range l.Lag.TotalByTopic() {
			g.ByTopic[topic] = tl.Lag
			g.Total += tl.Lag
		}
		h.Lag[l.Group] = g
	}
	return h
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, code int, err error) {
	if code >= 500 {
		s.cfg.Log.Warn("api request failed", "path", r.URL.Path, "status", code, "err", err)
	}
	writeError(w, code, err)
}

// Error is every error's body.
type Error struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, Error{Error: err.Error()})
}

// writeJSON encodes as `hedgeline <query> --json` prints, byte for byte.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
