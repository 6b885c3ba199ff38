// Package bench is the benchmark harness behind `make bench`
// (cmd/hedgeline-bench): it runs the real binary (bin/hedgeline) as child
// processes on the embedded stack and measures what BENCHMARKS.md reports.
// Its clients reach the plaintext broker it starts itself, so they carry
// no TLS or SASL.
//
// These machines are noisy (2 cores, shared), so no figure stands alone:
// every measured run is interleaved with a run of its baseline (the raw
// Kafka client, goka processors; for the goal figures also an earlier
// build of the binary) on a fresh broker, and the
// report gives medians of the repeats and the ratio measured/baseline.
//
// # Files
//
//	proc.go       child processes: start, wait for a log line, peak RSS, stop
//	stack.go      a fresh broker + `hedgeline run` (+ ClickHouse) per run
//	load.go       synthetic fills produced in-process (sources/loadgen), paced or flat out
//	watch.go      completion: distinct on-chain PnL records on pnl.events
//	latency.go    hedge latency of every hedge: its cause (a Witness produced, or the
//	              previous hedge filled) -> dry-run ledger accepted_at / fill booked
//	limit.go      baselines: franz-go produce+consume, goka processors with a table (bare, realistic)
//	cpu.go        CPU per fill: /proc/<pid>/stat of run and broker, getrusage of the harness
//	clickhouse.go projecting into the embedded ClickHouse; replay
//	suite.go      the scenarios, their repeats and budget
//	report.go     medians, percentiles, the table
//	goals.go      the Goals table of issue 12: baseline binary vs this binary
//	api.go        issue 14: `hedgeline serve` over the goal run's replayed database, GETs timed
package bench
