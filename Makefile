# hedgeline: see README.md. Every target works on a fresh machine with Go 1.26.
GO       ?= go
BIN      := bin/hedgeline
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
STATICCHECK_VERSION := v0.8.2

.PHONY: build test run bench bench-baseline lint clean deps fuzz image

# The first build downloads the Go modules and compiles everything: say so,
# a silent minute looks like a hang.
build:
	@echo "make build: compiling $(BIN) $(VERSION) (the first time also downloads Go modules: a minute or two)"
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./pipeline

# The container image (deploy/Dockerfile: a static binary without the
# embedded ClickHouse, on distroless, non-root); needs a Docker engine.
IMAGE ?= hedgeline:$(VERSION)
image:
	docker build -f deploy/Dockerfile --build-arg VERSION=$(VERSION) -t $(IMAGE) .

# All tests, unit and integration (integration tests start their own kfake
# broker over TCP). -p 2 matches the 2-core CI machines.
test:
	$(GO) test -count=1 -p 2 -timeout 15m ./...

run: build
	@echo "make run: starting the demo (embedded Kafka, embedded ClickHouse, pipeline; the first run downloads"
	@echo "          the ClickHouse engine, 177 MB, into $${XDG_CACHE_HOME:-$$HOME/.cache}/hedgeline/chdb, with progress)"
	./$(BIN) demo $(RUN_ARGS)

# Benchmarks (BENCHMARKS.md): the micro benchmarks of the hot paths, the
# chain source's backfill of a 100k-fill simulated chain, then
# the suite on the embedded stack (bench/cmd/hedgeline-bench runs bin/hedgeline
# as child processes) printing one table, and the Goals table of issue 12
# with the goal figures of a baseline build (BENCH_BASELINE, a git rev, built
# into bin/hedgeline-baseline; BENCH_BASELINE= skips it) measured in the same
# suite, and the REST API timed over the goal run's replayed database
# (issue 14); about 45-55 minutes on 2 cores. Nothing here fails the tests.
# BENCH_ARGS passes flags, e.g. BENCH_ARGS=--quick.
BENCH_BASELINE ?= f79cbd7
BASELINE_BIN   := bin/hedgeline-baseline

bench: build $(if $(BENCH_BASELINE),bench-baseline)
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 200ms -count 3 \
	  ./processors/runner ./processors/position ./processors/pnl ./topics | tee bench.out
	$(GO) test -run '^$$' -bench BenchmarkBackfill -benchtime 1x ./sources/chain | tee -a bench.out
	$(GO) run ./bench/cmd/hedgeline-bench --bin $(BIN) --out bench-results.md \
	  $(if $(BENCH_BASELINE),--baseline-bin $(BASELINE_BIN)) $(BENCH_ARGS) | tee -a bench.out

# The baseline binary: BENCH_BASELINE's tree (git archive into a temporary
# directory) built like $(BIN); rebuilt only when the rev it resolves to
# changes (bin/hedgeline-baseline.rev).
bench-baseline:
	@rev=$$(git rev-parse --verify '$(BENCH_BASELINE)^{commit}') || exit 1; \
	if [ -x $(BASELINE_BIN) ] && [ "$$(cat $(BASELINE_BIN).rev 2>/dev/null)" = "$$rev" ]; then \
	  echo "make bench: $(BASELINE_BIN) is $(BENCH_BASELINE) ($$rev)"; exit 0; fi; \
	echo "make bench: building $(BASELINE_BIN) from $(BENCH_BASELINE) ($$rev)"; \
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	git archive "$$rev" | tar -x -C "$$tmp" && mkdir -p bin && \
	(cd "$$tmp" && $(GO) build -ldflags "-X main.version=baseline-$(BENCH_BASELINE)" -o "$(CURDIR)/$(BASELINE_BIN)" ./pipeline) && \
	echo "$$rev" > $(BASELINE_BIN).rev

# gofmt + go vet, and staticcheck when the Go proxy serves it.
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@if $(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) -version >/dev/null 2>&1; then \
	  echo "staticcheck ./..."; $(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...; \
	else echo "staticcheck unavailable from the module proxy; skipped"; fi

fuzz:
	$(GO) test ./topics -run '^$$' -fuzz FuzzDecodeEnvelope -fuzztime 30s
	$(GO) test ./topics -run '^$$' -fuzz FuzzDecodeCommand -fuzztime 30s
	$(GO) test ./sources/chain/rain -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime 30s
	$(GO) test ./sources/chain/rain -run '^$$' -fuzz FuzzDecodeFloat -fuzztime 30s

# Modules and the embedded ClickHouse library (into ~/.cache, sha256-checked).
deps:
	@echo "make deps: downloading Go modules, then the ClickHouse engine (177 MB, once)"
	$(GO) mod download
	scripts/fetch-chdb.sh

clean:
	rm -rf bin bench.out bench-results.md
