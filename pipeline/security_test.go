package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hedgeline/hedgeline/internal/testcerts"
	"github.com/hedgeline/hedgeline/sinks"
	"github.com/hedgeline/hedgeline/stack"
	"github.com/hedgeline/hedgeline/topics"
)

// TestPipelineOverTLSAndSCRAM runs the whole pipeline (ingest -> the
// aggregates -> hedges through the dry-run broker -> PnL) against a broker
// that requires TLS with a client certificate, verified under a server
// name other than the address dialled, and SCRAM-SHA-512: every franz-go
// and goka (sarama) client of the pipeline connects with the same flags,
// and the books settle as on a plaintext broker (kitCheckFinal). Then the
// CLI's readers reach it configured through HEDGELINE_* variables alone.
func TestPipelineOverTLSAndSCRAM(t *testing.T) {
	sb := kitStartSecureBroker(t)
	dir := t.TempDir()
	ledger := filepath.Join(dir, "ledger.jsonl")
	cfg := testRunConfig(t, sb.addr, filepath.Join(dir, "state"), ledger, sb.flags...)
	p := kitStartPipeline(t, "pipeline", cfg)

	fills := kitReadSample(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	k := cfg.kafka // the pipeline's own flags: ingest connects as it does
	if n, bad, err := ingestFile(ctx, k, kitSamplePath, true, testLogger(t, "ingest")); err != nil || n != len(fills) || bad != 0 {
		t.Fatalf("ingest: %d produced, %d bad, %v; want %d", n, bad, err, len(fills))
	}
	snap := kitWaitSettled(t, sb.addr, fills, settleTimeout, p.check)
	kitCheckFinal(t, snap, fills, []string{ledger})
	kitNoRejections(t, sb.addr)

	env := append(flagsAsEnv(sb.flags), "HEDGELINE_BROKERS="+sb.addr)
	out, errOut, code := runCLIEnv(t, dir, "", env, "tail", topics.PnLEvents)
	if code != 0 || strings.Count(out, "\n") < len(fills) {
		t.Errorf("tail configured by environment: exit %d, %d lines, stderr:\n%s", code, strings.Count(out, "\n"), errOut)
	}
	if n := sb.AuthFailures(); n != 0 {
		t.Errorf("%d refused authentications with the right password", n)
	}
}

// TestEmbeddedBrokerSecured: `run --embedded` with --embedded-tls-* serves
// the embedded broker over mutual TLS and accepts the --kafka-sasl-* user,
// and the pipeline (and its broker's own housekeeping client) works
// through it.
func TestEmbeddedBrokerSecured(t *testing.T) {
	s := kitNewSecurity(t)
	dir := t.TempDir()
	addr := kitFreeAddr(t)
	ledger := filepath.Join(dir, "ledger.jsonl")
	cfg := testRunConfig(t, addr, filepath.Join(dir, "state"), ledger, append([]string{
		"--embedded", "--embedded-listen", addr, "--roles", "onchain-trade,position,offchain-order,trade-manager,order-manager,pnl",
		"--embedded-tls-cert-file", s.pki.ServerCert, "--embedded-tls-key-file", s.pki.ServerKey, "--embedded-tls-client-ca-file", s.pki.CAFile,
	}, s.flags...)...)
	p := kitStartPipeline(t, "pipeline", cfg)
	s.register(t, addr)

	fills := kitReadSample(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if n, _, err := ingestFile(ctx, cfg.kafka, kitSamplePath, true, testLogger(t, "ingest")); err != nil || n != len(fills) {
		t.Fatalf("ingest: %d produced, %v", n, err)
	}
	snap := kitWaitSettled(t, addr, fills, settleTimeout, p.check)
	kitCheckFinal(t, snap, fills, []string{ledger})

	// Plaintext, or TLS without SASL: refused.
	noSASL := s.flags
	for _, f := range []string{"--kafka-sasl-mechanism", "--kafka-sasl-username", "--kafka-sasl-password-file"} {
		noSASL = withoutFlag(noSASL, f)
	}
	for name, flags := range map[string][]string{"plaintext": nil, "TLS without SASL": noSASL} {
		_, errOut, code := runCLI(t, dir, append([]string{"tail", "--brokers", addr, topics.PnLEvents}, flags...)...)
		t.Logf("%s: exit %d: %s", name, code, strings.TrimSpace(errOut))
		if code == 0 {
			t.Errorf("%s: tail read the secured embedded broker", name)
		}
	}
}

// flagsAsEnv turns --name value pairs into HEDGELINE_NAME=value.
func flagsAsEnv(flags []string) []string {
	var env []string
	for i := 0; i+1 < len(flags); i += 2 {
		env = append(env, envName(strings.TrimPrefix(flags[i], "--"))+"="+flags[i+1])
	}
	return env
}

// withFlag replaces the value of --name in flags (or appends it).
func withFlag(flags []string, name, value string) []string {
	out := append([]string(nil), flags...)
	for i := 0; i+1 < len(out); i += 2 {
		if out[i] == name {
			out[i+1] = value
			return out
		}
	}
	return append(out, name, value)
}

// withoutFlag drops --name and its value from flags.
func withoutFlag(flags []string, name string) []string {
	var out []string
	for i := 0; i+1 < len(flags); i += 2 {
		if flags[i] != name {
			out = append(out, flags[i], flags[i+1])
		}
	}
	return out
}

// TestWrongKafkaPasswordFailsFast: with a wrong SASL password, from a file
// or from HEDGELINE_KAFKA_SASL_PASSWORD, `run` and `tail` exit 1 (within
// runCLIEnv's minute, or the test fails) with an error that names SASL
// authentication, after a handful of attempts (no retry storm), and no
// output shows the password tried or the right one.
func TestWrongKafkaPasswordFailsFast(t *testing.T) {
	sb := kitStartSecureBroker(t)
	dir := t.TempDir()
	const wrong = "wrong-Password-4711"
	wrongFile := filepath.Join(dir, "wrong-password")
	if err := os.WriteFile(wrongFile, []byte(wrong+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	byFile := withFlag(sb.flags, "--kafka-sasl-password-file", wrongFile)
	byEnv := withoutFlag(sb.flags, "--kafka-sasl-password-file")
	for _, c := range []struct {
		name string
		args []string
		env  []string
	}{
		{"run, password file", append([]string{"run", "--brokers", sb.addr, "--state-dir", filepath.Join(dir, "state"), "--fast-groups"}, byFile...), nil},
		{"tail, password from the environment", append([]string{"tail", "--brokers", sb.addr, topics.PnLEvents}, byEnv...),
			[]string{"HEDGELINE_KAFKA_SASL_PASSWORD=" + wrong}},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := sb.AuthFailures()
			start := time.Now()
			out, errOut, code := runCLIEnv(t, dir, "", c.env, c.args...)
			t.Logf("exit %d after %s: %s", code, time.Since(start).Round(time.Millisecond), strings.TrimSpace(errOut))
			if code != exitFailure {
				t.Errorf("exit %d, want %d", code, exitFailure)
			}
			if !strings.Contains(errOut, "SASL") || !strings.Contains(strings.ToLower(errOut), "authentication failed") {
				t.Errorf("stderr does not name the SASL authentication:\n%s", errOut)
			}
			for _, secret := range []string{wrong, sb.password} {
				if strings.Contains(out+errOut, secret) {
					t.Errorf("the output shows a password:\n%s%s", out, errOut)
				}
			}
			if n := sb.AuthFailures() - before; n < 1 || n > 10 {
				t.Errorf("%d authentications refused, want a handful (no retry storm)", n)
			}
		})
	}
}

// TestUntrustedKafkaCertificate: a broker certificate signed by a CA the
// client does not trust, or not carrying the name the client verifies,
// fails the command (exit 1) with an error naming the certificate problem.
func TestUntrustedKafkaCertificate(t *testing.T) {
	sb := kitStartSecureBroker(t)
	dir := t.TempDir()
	other := testcerts.New(t, kitServerName)
	for _, c := range []struct {
		name  string
		flags []string
		want  string
	}{
		{"CA that did not sign it", withFlag(sb.flags, "--kafka-tls-ca-file", other.CAFile), "certificate signed by unknown authority"},
		{"name it does not carry", withoutFlag(sb.flags, "--kafka-tls-server-name"), "certificate"},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			args := append([]string{"run", "--brokers", sb.addr, "--state-dir", filepath.Join(dir, fmt.Sprint(len(c.name))), "--fast-groups"}, c.flags...)
			_, errOut, code := runCLIEnv(t, dir, "", nil, args...)
			t.Logf("exit %d after %s: %s", code, time.Since(start).Round(time.Millisecond), strings.TrimSpace(errOut))
			if code != exitFailure || !strings.Contains(errOut, "x509") || !strings.Contains(errOut, c.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d naming %q", code, errOut, exitFailure, c.want)
			}
		})
	}
}

// Every command that talks to Kafka takes the security flags, and every
// command that talks to ClickHouse its TLS flags (and so, through parse,
// their HEDGELINE_* variables).
func TestSecurityFlagsOnEveryCommand(t *testing.T) {
	kafkaWant := []string{"--kafka-tls ", "--kafka-tls-ca-file", "--kafka-tls-cert-file", "--kafka-tls-key-file", "--kafka-tls-server-name",
		"--kafka-sasl-mechanism", "--kafka-sasl-username", "--kafka-sasl-password-file", "--kafka-sasl-password "}
	chWant := []string{"--clickhouse-tls ", "--clickhouse-tls-ca-file", "--clickhouse-tls-cert-file", "--clickhouse-tls-key-file",
		"--clickhouse-tls-server-name", "--clickhouse-password-file"}
	for _, c := range []struct {
		args       []string
		kafka, chs bool
	}{
		{[]string{"run"}, true, true}, {[]string{"demo"}, true, true}, {[]string{"ingest"}, true, false}, {[]string{"loadgen"}, true, false},
		{[]string{"replay"}, true, true}, {[]string{"tail"}, true, false}, {[]string{"topics"}, true, false}, {[]string{"migrate"}, true, true},
		{[]string{"broker-auth", "login"}, true, false}, {[]string{"broker-auth", "status"}, true, false}, {[]string{"serve"}, true, true},
		{[]string{"pnl"}, false, true}, {[]string{"positions"}, false, true}, {[]string{"trades"}, false, true}, {[]string{"orders"}, false, true},
	} {
		var out strings.Builder
		if err := dispatch(context.Background(), append(c.args, "--help"), &out, &out); err != nil {
			t.Fatalf("%v --help: %v", c.args, err)
		}
		var want []string
		if c.kafka {
			want = append(want, kafkaWant...)
		}
		if c.chs {
			want = append(want, chWant...)
		}
		for _, f := range want {
			if !strings.Contains(out.String(), "  "+f) {
				t.Errorf("%s --help lacks %s", strings.Join(c.args, " "), strings.TrimSpace(f))
			}
		}
	}
	var out strings.Builder
	if err := dispatch(context.Background(), []string{"broker", "--help"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"--tls-cert-file", "--tls-key-file", "--tls-client-ca-file", "--kafka-sasl-mechanism", "--kafka-sasl-username", "--kafka-sasl-password-file"} {
		if !strings.Contains(out.String(), "  "+f) {
			t.Errorf("broker --help lacks %s", f)
		}
	}
}

// The run command's security, from HEDGELINE_* variables, reaches the
// stack; a wrong file is reported naming its flag and path; the embedded
// broker serves TLS exactly when the clients use it.
func TestRunSecurityConfig(t *testing.T) {
	pki := testcerts.New(t, "kafka.test")
	pwFile := filepath.Join(pki.Dir, "pw")
	if err := os.WriteFile(pwFile, []byte("secret-Value-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HEDGELINE_KAFKA_TLS_CA_FILE", pki.CAFile)
	t.Setenv("HEDGELINE_KAFKA_SASL_MECHANISM", "scram-sha-256")
	t.Setenv("HEDGELINE_KAFKA_SASL_USERNAME", "hedgeline")
	t.Setenv("HEDGELINE_KAFKA_SASL_PASSWORD_FILE", pwFile)
	t.Setenv("HEDGELINE_CLICKHOUSE_TLS_CA_FILE", pki.CAFile)
	t.Setenv("HEDGELINE_CLICKHOUSE_TLS_SERVER_NAME", "clickhouse.test")
	parsed := func(args ...string) runConfig {
		var cfg runConfig
		fs := newFlagSet("run", nil)
		cfg.register(fs)
		if err := parse(fs, args); err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	sc, err := parsed().stackConfig()
	if err != nil {
		t.Fatal(err)
	}
	if m, u := sc.Kafka.Security.SASL(); m != "SCRAM-SHA-256" || u != "hedgeline" || sc.Kafka.Security.TLS() == nil || sc.Kafka.Security.TLS().RootCAs == nil {
		t.Errorf("kafka security %s", sc.Kafka.Security)
	}
	if _, _, pw := sc.Kafka.Security.Credentials(); pw != "secret-Value-1" {
		t.Errorf("password read from the file: %q", pw)
	}
	if c := sc.ClickHouse.TLS; c == nil || c.RootCAs == nil || c.ServerName != "clickhouse.test" {
		t.Errorf("clickhouse TLS %+v", c)
	}

	missing := filepath.Join(t.TempDir(), "missing.pem")
	_, err = parsed("--kafka-tls-ca-file", missing, "--clickhouse-tls-cert-file", missing).stackConfig()
	for _, want := range []string{"--kafka-tls-ca-file: open " + missing, "--clickhouse-tls-cert-file: needs --clickhouse-tls-key-file"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want %q", err, want)
		}
	}

	_, err = parsed("--embedded").stackConfig()
	if err == nil || !strings.Contains(err.Error(), "--embedded-tls-cert-file and --kafka-tls") {
		t.Errorf("embedded without TLS for TLS clients: %v", err)
	}
	sc, err = parsed("--embedded", "--embedded-tls-cert-file", pki.ServerCert, "--embedded-tls-key-file", pki.ServerKey,
		"--embedded-tls-client-ca-file", pki.CAFile).stackConfig()
	if err != nil || sc.Embedded.TLS == nil || sc.Embedded.TLS.ClientCAs == nil {
		t.Errorf("embedded TLS: %v, %+v", err, sc.Embedded.TLS)
	}
	if _, err := parsed("--embedded-tls-cert-file", pki.ServerCert, "--embedded-tls-key-file", pki.ServerKey).stackConfig(); err == nil ||
		!strings.Contains(err.Error(), "only with --embedded") {
		t.Errorf("embedded TLS without --embedded: %v", err)
	}
}

// kitTLSProxy terminates TLS (its server certificate, client certificates
// required) in front of target and forwards the plaintext: a secured
// ClickHouse for clients, with the real engine behind. It counts the
// connections whose client certificate it verified.
func kitTLSProxy(t *testing.T, pki *testcerts.PKI, target string) (addr string, verified *atomic.Int64) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", pki.ServerTLS())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	verified = new(atomic.Int64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := c.(*tls.Conn)
				if tc.Handshake() != nil {
					return
				}
				verified.Add(1)
				up, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer up.Close()
				go func() { _, _ = io.Copy(up, tc); _ = up.Close() }()
				_, _ = io.Copy(tc, up)
			}()
		}
	}()
	return ln.Addr().String(), verified
}

// TestClickHouseOverTLS: the query commands reach ClickHouse through TLS
// with the CA, client certificate and server name of the --clickhouse-tls-*
// flags; without the client certificate, or trusting another CA, they fail
// naming the TLS problem.
func TestClickHouseOverTLS(t *testing.T) {
	dir := t.TempDir()
	chAddr := kitStartClickHouse(t, dir)
	db, err := stack.OpenViews(context.Background(), sinks.Config{Addr: chAddr}, testLogger(t, "views")) // the tables pnl reads
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	pki := testcerts.New(t, "clickhouse.hedgeline.test")
	other := testcerts.New(t, "clickhouse.hedgeline.test")
	proxy, verified := kitTLSProxy(t, pki, chAddr)
	base := []string{"pnl", "--clickhouse", proxy, "--clickhouse-tls-ca-file", pki.CAFile, "--clickhouse-tls-server-name", "clickhouse.hedgeline.test"}
	withCert := append(append([]string(nil), base...), "--clickhouse-tls-cert-file", pki.ClientCert, "--clickhouse-tls-key-file", pki.ClientKey)

	out, errOut, code := runCLI(t, dir, withCert...)
	if code != 0 || !strings.Contains(out, "SYMBOL") || verified.Load() == 0 {
		t.Fatalf("pnl over TLS: exit %d, %d verified connections, stdout %q, stderr %q", code, verified.Load(), out, errOut)
	}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no client certificate", base, "certificate required"},
		{"another CA", withFlag(withCert, "--clickhouse-tls-ca-file", other.CAFile), "x509: certificate signed by unknown authority"},
		{"plaintext", []string{"pnl", "--clickhouse", proxy}, ""},
	} {
		_, errOut, code := runCLI(t, dir, c.args...)
		t.Logf("%s: exit %d: %s", c.name, code, strings.TrimSpace(errOut))
		if code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("%s: exit %d, stderr %q; want a failure naming %q", c.name, code, errOut, c.want)
		}
	}
}
