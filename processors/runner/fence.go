package runner

import (
	"fmt"
	"hash"
	"sync"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
)

// fence stops a goka processor from writing anything more once one of its
// writes failed (an emit or table write the broker refused, a table write
// the disk refused).
//
// goka does not stop at the first failure: a failed emit is reported
// asynchronously, and the partition processor goes on handling the inputs
// after it until it notices. Their outputs reach Kafka if the broker
// accepts writes again (space freed for a moment, or a new producer epoch
// after the failure), ahead of the failed input's outputs, which are only
// emitted again when the input is redelivered to the restarted stage. A
// consumer that relies on the order of a partition then sees it broken: the
// position refuses the late fills as out of chain order (a re-sent command
// it refuses counts as a duplicate), and they are lost for good. With the
// fence, nothing after the first failure is written; the restarted stage
// handles and emits everything from the failed input on, in order.
type fence struct {
	mu     sync.Mutex
	err    error         // the first failure; nil while none
	closed chan struct{} // closed with the first failure; made on demand
}

func (f *fence) fail(err error) {
	f.mu.Lock()
	if f.err == nil {
		f.err = err
		if f.closed != nil {
			close(f.closed)
		}
	}
	f.mu.Unlock()
}

// done is closed once a write failed: an input waiting for earlier ones to
// be acknowledged (marks.waitDurable) stops waiting, since the failed one
// never will be.
func (f *fence) done() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed == nil {
		f.closed = make(chan struct{})
		if f.err != nil {
			close(f.closed)
		}
	}
	return f.closed
}

// check returns why the processor must not write any more, or nil.
func (f *fence) check() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		return nil
	}
	return fmt.Errorf("not handled: an earlier write of this stage failed (%w); it restarts from the failed input", f.err)
}

// producerBuilder wraps goka's producer (used for both emits and table
// writes) so that a failed write closes the fence and no write is sent
// once it is closed.
func (f *fence) producerBuilder(inner goka.ProducerBuilder) goka.ProducerBuilder {
	return func(brokers []string, clientID string, hasher func() hash.Hash32) (goka.Producer, error) {
		p, err := inner(brokers, clientID, hasher)
		if err != nil {
			return nil, err
		}
		return &fencedProducer{Producer: p, f: f}, nil
	}
}

type fencedProducer struct {
	goka.Producer
	f *fence
}

func (p *fencedProducer) Emit(topic, key string, value []byte) *goka.Promise {
	return p.EmitWithHeaders(topic, key, value, nil)
}

func (p *fencedProducer) EmitWithHeaders(topic, key string, value []byte, headers goka.Headers) *goka.Promise {
	if err := p.f.check(); err != nil {
		_, finish := goka.NewPromiseWithFinisher()
		return finish(nil, fmt.Errorf("emit to %s: %w", topic, err))
	}
	return p.Producer.EmitWithHeaders(topic, key, value, headers).ThenWithMessage(func(_ *sarama.ProducerMessage, err error) {
		if err != nil {
			p.f.fail(fmt.Errorf("write to %s: %w", topic, err))
		}
	})
}
