package actions

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"

	"github.com/tracker-dev/tracker/config"
	"github.com/tracker-dev/tracker/engine"
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
	clientID := k.ClientID
	if clientID == "" {
		clientID = "tracker"
	}
	tr := &kafka.Transport{ClientID: clientID, DialTimeout: 10 * time.Second}
	if t := k.TLS; t != nil && t.Enabled {
		c := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // opt-in by config
		if t.CAFile != "" {
			pem, err := os.ReadFile(t.CAFile)
			if err != nil {
				return nil, fmt.Errorf("kafka.tls.ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("kafka.tls.ca_file %s: no PEM certificates found", t.CAFile)
			}
			c.RootCAs = pool
		}
		if t.CertFile != "" || t.KeyFile != "" {
			cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("kafka.tls cert_file/key_file: %w", err)
			}
			c.Certificates = []tls.Certificate{cert}
		}
		tr.TLS = c
	}
	if s := k.SASL; s != nil && s.Mechanism != "" {
		var mech sasl.Mechanism
		password := os.Getenv(s.PasswordEnv)
		var err error
		switch s.Mechanism {
		case "plain":
			mech = plain.Mechanism{Username: s.Username, Password: password}
		case "scram-sha-256", "scram-sha-512":
			// kafka-go's SCRAM needs github.com/xdg-go/scram, which go.sum
			// does not have yet; the caller can pass Options.Transport.
			err = fmt.Errorf("mechanism %s: not built into the actions relay yet; pass actions.Options.Transport", s.Mechanism)
		default:
			err = fmt.Errorf("unknown mechanism %q: use plain, scram-sha-256 or scram-sha-512", s.Mechanism)
		}
		if err != nil {
			return nil, fmt.Errorf("kafka.sasl: %w", err)
		}
		tr.SASL = mech
	}
	return tr, nil
}
