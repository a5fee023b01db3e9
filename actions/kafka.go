package actions

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/tracker-dev/tracker/config"
	"github.com/tracker-dev/tracker/kafkaconn"
)

// maxRecordBytes is the largest record value the relay writes (Kafka's
// default message.max.bytes is about 1 MiB).
const maxRecordBytes = 1 << 20

// writerFlush is the kafka-go Writer's batch timeout. A partition's share of
// one WriteMessages call is added to its batch under one lock, so the timer
// cannot split it; it only sends the batch right after the call added it.
const writerFlush = time.Microsecond

// writerBatch caps the kafka-go Writer's per-partition batch: the Writer
// preallocates that many messages for every partition a call touches, and a
// larger share of one call simply goes out as several produce requests.
const writerBatch = 1000

// recordOverhead is about what a record's JSON adds to its strings: field
// names, numbers and times.
const recordOverhead = 200

// kafkaSender writes actions to one topic with acks=all.
type kafkaSender struct {
	w       *kafka.Writer
	timeout time.Duration

	// Reused from one send to the next (only the target's worker sends).
	// After a failed write they are dropped, since kafka-go may still hold
	// messages of a call it gave up waiting for.
	buf     bytes.Buffer
	msgs    []kafka.Message
	headers []kafka.Header
	spans   []span
	idx     []int
}

// span locates one record's key, header values and value in the buffer.
type span struct{ key, id, typ, val, end int }

// newKafkaSender builds the writer of one topic. Called with r.mu held;
// it does no I/O.
func (r *Relay) newKafkaSender(name, topic string) sender {
	if len(r.opts.Kafka.Brokers) == 0 {
		return invalidSender{reason: fmt.Sprintf("target %s is Kafka topic %s, but kafka.brokers is empty", name, topic)}
	}
	if r.transport == nil {
		tr, err := newTransport(r.opts.Kafka)
		if err != nil {
			return invalidSender{reason: fmt.Sprintf("target %s: %v", name, err)}
		}
		r.transport = tr
	}
	log := r.log.With("target", name, "topic", topic)
	return &kafkaSender{
		timeout: r.opts.AttemptTimeout,
		w: &kafka.Writer{
			Addr:         kafka.TCP(r.opts.Kafka.Brokers...),
			Topic:        topic,
			Balancer:     &kafka.Murmur2Balancer{}, // the Java client's partitioning by key
			RequiredAcks: kafka.RequireAll,
			// The relay hands the writer whole batches (one WriteMessages call
			// per attempt), which it splits by partition; each partition's part
			// goes out at once in one produce request instead of lingering for
			// more messages that the synchronous caller cannot send meanwhile.
			BatchSize:    min(r.opts.BatchSize, writerBatch),
			BatchBytes:   maxRecordBytes + 64<<10,
			BatchTimeout: writerFlush,
			// A few quick retries inside kafka-go (leader moves); the relay's
			// backoff handles longer outages.
			MaxAttempts:     3,
			WriteBackoffMin: 50 * time.Millisecond,
			WriteBackoffMax: time.Second,
			WriteTimeout:    r.opts.AttemptTimeout,
			ReadTimeout:     r.opts.AttemptTimeout,
			Transport:       r.transport,
			ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
				log.Debug(fmt.Sprintf(msg, args...), "source", "kafka-go")
			}),
		},
	}
}

// send writes the batch with one WriteMessages call. Keys, header values
// and record values of the whole batch share one buffer, so a batch costs a
// handful of allocations rather than several per action.
func (k *kafkaSender) send(ctx context.Context, items []*item) []error {
	errs := make([]error, len(items))
	spans, idx := k.spans[:0], k.idx[:0]
	size := 0
	for _, it := range items {
		a := &it.a
		size += recordOverhead + 2*len(a.CorrelationKey) + 2*len(a.ID) + 2*len(a.Type) + len(a.ProcessID) + len(a.ElementID) + len(a.Variables)
	}
	buf := &k.buf
	buf.Reset()
	buf.Grow(size)
	for i, it := range items {
		a := &it.a
		sp := span{key: buf.Len()}
		buf.WriteString(a.CorrelationKey)
		sp.id = buf.Len()
		buf.WriteString(a.ID)
		sp.typ = buf.Len()
		buf.WriteString(a.Type)
		sp.val = buf.Len()
		err := appendRecord(buf, a)
		if err == nil && buf.Len()-sp.val > maxRecordBytes {
			err = fmt.Errorf("record of %d bytes exceeds the limit of %d", buf.Len()-sp.val, maxRecordBytes)
		}
		if err != nil {
			buf.Truncate(sp.key)
			errs[i] = permanent(err)
			continue
		}
		sp.end = buf.Len()
		spans = append(spans, sp)
		idx = append(idx, i)
	}
	k.spans, k.idx = spans, idx
	if len(spans) == 0 {
		return errs
	}
	all := buf.Bytes()
	msgs := slices.Grow(k.msgs[:0], len(spans))[:len(spans)]
	headers := slices.Grow(k.headers[:0], 2*len(spans))[:2*len(spans)]
	k.msgs, k.headers = msgs, headers
	for j, sp := range spans {
		h := headers[2*j : 2*j+2 : 2*j+2]
		h[0] = kafka.Header{Key: HeaderActionID, Value: all[sp.id:sp.typ:sp.typ]}
		h[1] = kafka.Header{Key: HeaderActionType, Value: all[sp.typ:sp.val:sp.val]}
		msgs[j] = kafka.Message{Key: all[sp.key:sp.id:sp.id], Value: all[sp.val:sp.end:sp.end], Headers: h}
	}
	wctx, cancel := context.WithTimeout(ctx, k.timeout)
	defer cancel()
	err := k.w.WriteMessages(wctx, msgs...)
	if err == nil {
		return errs
	}
	k.buf, k.msgs, k.headers = bytes.Buffer{}, nil, nil
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	var we kafka.WriteErrors
	if errors.As(err, &we) && len(we) == len(msgs) {
		for j, e := range we {
			if e != nil {
				errs[idx[j]] = fmt.Errorf("write to topic %s: %w", k.w.Topic, e)
			}
		}
		return errs
	}
	for _, i := range idx {
		errs[i] = fmt.Errorf("write to topic %s: %w", k.w.Topic, err)
	}
	return errs
}

func (k *kafkaSender) close() error {
	if err := k.w.Close(); err != nil {
		return fmt.Errorf("close writer of topic %s: %w", k.w.Topic, err)
	}
	return nil
}

// newTransport builds the kafka-go transport (TLS, SASL) from the config.
func newTransport(k config.Kafka) (*kafka.Transport, error) {
	c, err := kafkaconn.New(k)
	if err != nil {
		return nil, err
	}
	return c.Transport, nil
}
