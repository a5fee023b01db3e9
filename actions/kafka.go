package actions

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/tracker-dev/tracker/config"
	"github.com/tracker-dev/tracker/engine"
	"github.com/tracker-dev/tracker/kafkaconn"
)

// maxRecordBytes is the largest record value the relay writes (Kafka's
// default message.max.bytes is about 1 MiB).
const maxRecordBytes = 1 << 20

// kafkaSender writes actions to one topic with acks=all.
type kafkaSender struct {
	w       *kafka.Writer
	timeout time.Duration
}

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
			BatchSize:    r.opts.BatchSize,
			BatchBytes:   maxRecordBytes + 64<<10,
			BatchTimeout: r.opts.Linger,
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

func (k *kafkaSender) send(ctx context.Context, items []*item) []error {
	errs := make([]error, len(items))
	msgs := make([]kafka.Message, 0, len(items))
	idx := make([]int, 0, len(items))
	for i, it := range items {
		v, err := encodeRecord(it.a)
		if err == nil && len(v) > maxRecordBytes {
			err = fmt.Errorf("record of %d bytes exceeds the limit of %d", len(v), maxRecordBytes)
		}
		if err != nil {
			errs[i] = permanent(err)
			continue
		}
		msgs = append(msgs, kafka.Message{Key: []byte(it.a.CorrelationKey), Value: v, Headers: recordHeaders(it.a)})
		idx = append(idx, i)
	}
	if len(msgs) == 0 {
		return errs
	}
	wctx, cancel := context.WithTimeout(ctx, k.timeout)
	defer cancel()
	err := k.w.WriteMessages(wctx, msgs...)
	if err == nil {
		return errs
	}
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

// recordHeaders are the Kafka headers of an action's record: its id and
// type, and for a dead letter the original record's headers and the reason.
func recordHeaders(a engine.Action) []kafka.Header {
	hs := []kafka.Header{{Key: HeaderActionID, Value: []byte(a.ID)}, {Key: HeaderActionType, Value: []byte(a.Type)}}
	if a.Type == engine.DecisionDeadLetter && a.InstanceKey == 0 {
		for _, k := range sortedKeys(a.Headers) {
			hs = append(hs, kafka.Header{Key: k, Value: []byte(a.Headers[k])})
		}
	}
	return hs
}

// newTransport builds the kafka-go transport (TLS, SASL) from the config.
func newTransport(k config.Kafka) (*kafka.Transport, error) {
	c, err := kafkaconn.New(k)
	if err != nil {
		return nil, err
	}
	return c.Transport, nil
}
