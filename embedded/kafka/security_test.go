package kafka

import (
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/hedgeline/hedgeline/internal/kafkasec"
	"github.com/hedgeline/hedgeline/internal/testcerts"
	"github.com/hedgeline/hedgeline/internal/tlsconf"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

const testPassword = "embedded-Secret-9"

// TestSecureBroker: with TLS (client certificates required) and a SASL
// user of each mechanism, franz-go and sarama clients that present the
// right certificate and password produce and consume; the broker's own
// client (the reaper) connects too; a wrong password is refused with
// Kafka's SASL_AUTHENTICATION_FAILED, which neither client retries; a
// plaintext client is refused.
func TestSecureBroker(t *testing.T) {
	pki := testcerts.New(t, "kafka.test")
	var users []User
	for _, m := range kafkasec.Mechanisms {
		users = append(users, User{Mechanism: m, Name: "u-" + strings.ToLower(m), Password: testPassword})
	}
	b := startBroker(t, Config{TLS: pki.ServerTLS(), Users: users})
	ctx := testCtx(t, 60*time.Second)
	if err := b.reaper.cl.Ping(ctx); err != nil {
		t.Fatalf("the broker's own client cannot connect: %v", err)
	}

	clientTLS, err := tlsconf.Flags{CAFile: pki.CAFile, CertFile: pki.ClientCert, KeyFile: pki.ClientKey, ServerName: "kafka.test"}.Load()
	if err != nil {
		t.Fatal(err)
	}
	cluster := func(t *testing.T, u User, password string) kafkasec.Cluster {
		t.Helper()
		sec, err := kafkasec.New(clientTLS, u.Mechanism, u.Name, password)
		if err != nil {
			t.Fatal(err)
		}
		return kafkasec.Cluster{Seeds: []string{b.Addr()}, Security: sec}
	}
	for _, u := range users {
		t.Run(u.Mechanism, func(t *testing.T) {
			c := cluster(t, u, testPassword)
			cl, err := kgo.NewClient(c.Opts(kgo.RetryTimeout(10 * time.Second))...)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			topic := "secure-" + strings.ToLower(u.Mechanism)
			createTopic(t, ctx, kadm.NewClient(cl), topic, 1, nil)
			produceN(t, ctx, cl, topic, 0, 3)

			sc := sarama.NewConfig()
			sc.Version = sarama.V2_8_0_0
			sc.Consumer.Offsets.Initial = sarama.OffsetOldest
			c.Sarama(sc)
			consumer, err := sarama.NewConsumer(c.Seeds, sc)
			if err != nil {
				t.Fatalf("sarama: %v", err)
			}
			defer consumer.Close()
			pc, err := consumer.ConsumePartition(topic, 0, sarama.OffsetOldest)
			if err != nil {
				t.Fatalf("sarama: %v", err)
			}
			defer pc.Close()
			for n := 0; n < 3; n++ {
				select {
				case <-pc.Messages():
				case <-ctx.Done():
					t.Fatalf("sarama consumed %d of 3 records", n)
				}
			}

			before := b.AuthFailures()
			bad := cluster(t, u, "wrong-password")
			start := time.Now()
			wrong, err := kgo.NewClient(bad.Opts()...)
			if err != nil {
				t.Fatal(err)
			}
			defer wrong.Close()
			_, err = kadm.NewClient(wrong).ListTopics(ctx)
			if !errors.Is(err, kerr.SaslAuthenticationFailed) {
				t.Errorf("franz-go with a wrong password: %v, want SASL_AUTHENTICATION_FAILED", err)
			}
			t.Logf("franz-go refused after %s: %v", time.Since(start).Round(time.Millisecond), err)
			sc = sarama.NewConfig()
			sc.Version = sarama.V2_8_0_0
			bad.Sarama(sc)
			start = time.Now()
			_, err = sarama.NewClient(bad.Seeds, sc)
			if !errors.Is(err, sarama.ErrSASLAuthenticationFailed) {
				t.Errorf("sarama with a wrong password: %v, want %v", err, sarama.ErrSASLAuthenticationFailed)
			}
			t.Logf("sarama refused after %s: %v", time.Since(start).Round(time.Millisecond), err)
			// franz-go tries a new connection once; sarama tries its
			// metadata retries (3 by default) plus the first.
			if n := b.AuthFailures() - before; n < 2 || n > 8 {
				t.Errorf("%d refused authentications for two clients, want a handful (no retry storm)", n)
			}
		})
	}

	// TLS without the client certificate, and plaintext: refused.
	noCert, err := tlsconf.Flags{CAFile: pki.CAFile, ServerName: "kafka.test"}.Load()
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*tls.Config{"no client certificate": noCert, "plaintext": nil} {
		sec, _ := kafkasec.New(c, users[2].Mechanism, users[2].Name, testPassword)
		cl, err := kgo.NewClient(kafkasec.Cluster{Seeds: []string{b.Addr()}, Security: sec}.Opts(kgo.RetryTimeout(2 * time.Second))...)
		if err != nil {
			t.Fatal(err)
		}
		err = cl.Ping(ctx)
		cl.Close()
		if err == nil {
			t.Errorf("%s: connected", name)
		}
		t.Logf("%s: %v", name, err)
	}
}

func TestSecurityConfigValidate(t *testing.T) {
	err := Config{
		TLS:   &tls.Config{},
		Users: []User{{Mechanism: "GSSAPI", Name: "a", Password: "p"}, {Mechanism: "PLAIN", Name: "b"}},
	}.Validate()
	for _, want := range []string{"needs a certificate", `user "a": unknown SASL mechanism "GSSAPI"`, `user "b": needs a name`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want %q", err, want)
		}
	}
	u := User{Mechanism: "PLAIN", Name: "a", Password: testPassword}
	if s := u.String(); strings.Contains(s, testPassword) {
		t.Errorf("User prints its password: %s", s)
	}
}
