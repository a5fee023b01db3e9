package simulator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// ProducerOptions configure [Producer].
type ProducerOptions struct {
	Brokers []string
	Gen     Options
	// Limit stops after this many records (0 = until ctx ends).
	Limit int
	// Unpaced writes as fast as the broker takes records instead of at Gen.Rate.
	Unpaced bool
	// StateFile, when set, keeps how far the simulator got, so that a restarted
	// demo continues the same seeded stream instead of replaying it.
	StateFile string
	// Progress is how often a progress line is logged (default 10s; <0 = never).
	Progress time.Duration
	Logger   *slog.Logger
}

// Producer paces a [Generator]'s records onto Kafka with kafka-go, batching
// every tick's records into one WriteMessages call.
type Producer struct {
	mu   sync.Mutex // guards gen
	opts ProducerOptions
	gen  *Generator
	w    *kafka.Writer
	log  *slog.Logger

	resumed int           // records already produced by earlier runs
	offset  time.Duration // virtual time reached by earlier runs
	lastAt  time.Duration // virtual time of the last record sent
}

// producerState is what StateFile holds.
type producerState struct {
	Records int           `json:"records"`
	At      time.Duration `json:"atNanos"`
}

// NewProducer builds a producer; Run starts it.
func NewProducer(opts ProducerOptions) (*Producer, error) {
	if len(opts.Brokers) == 0 {
		return nil, fmt.Errorf("simulator: no brokers")
	}
	if opts.Progress == 0 {
		opts.Progress = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	w := &kafka.Writer{
		Addr:                   kafka.TCP(opts.Brokers...),
		Balancer:               &kafka.Hash{},
		BatchSize:              1000,
		BatchTimeout:           5 * time.Millisecond,
		RequiredAcks:           kafka.RequireAll,
		AllowAutoTopicCreation: true,
	}
	p := &Producer{opts: opts, w: w, log: opts.Logger.With("component", "simulator")}
	if opts.StateFile != "" {
		var st producerState
		data, err := os.ReadFile(opts.StateFile)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return nil, fmt.Errorf("simulator: read state: %w", err)
		default:
			if err := json.Unmarshal(data, &st); err != nil {
				return nil, fmt.Errorf("simulator: state file %s: %w", opts.StateFile, err)
			}
		}
		if opts.Gen.Start.IsZero() {
			opts.Gen.Start = time.Now().UTC().Add(-st.At)
		}
		p.resumed, p.offset, p.lastAt = st.Records, st.At, st.At
	}
	p.gen = NewGenerator(opts.Gen)
	for range p.resumed { // replay the seeded stream up to where the last run stopped
		p.gen.Next()
	}
	return p, nil
}

// saveState records how far the stream got (atomically: temp file + rename).
func (p *Producer) saveState(sent int) error {
	if p.opts.StateFile == "" {
		return nil
	}
	data, _ := json.Marshal(producerState{Records: p.resumed + sent, At: p.lastAt})
	tmp := p.opts.StateFile + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("simulator: save state: %w", err)
	}
	return os.Rename(tmp, p.opts.StateFile)
}

// Stats returns what has been generated so far.
func (p *Producer) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gen.Stats()
}

// Run produces until ctx ends or Limit records were written, then flushes and
// closes the writer.
func (p *Producer) Run(ctx context.Context) (err error) {
	defer p.w.Close()
	sent := 0
	defer func() {
		if serr := p.saveState(sent); serr != nil && err == nil {
			err = serr
		}
	}()
	start := time.Now().Add(-p.offset)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var progress <-chan time.Time
	if p.opts.Progress > 0 {
		pt := time.NewTicker(p.opts.Progress)
		defer pt.Stop()
		progress = pt.C
	}
	lastSent, lastAt := 0, time.Now()
	var pending *Record
	batch := make([]kafka.Message, 0, 1024)
	for {
		elapsed := time.Since(start)
		batch = batch[:0]
		var batchAt time.Duration
		for len(batch) < 10_000 && (p.opts.Limit == 0 || sent+len(batch) < p.opts.Limit) {
			if pending == nil {
				p.mu.Lock()
				r := p.gen.Next()
				p.mu.Unlock()
				pending = &r
			}
			if pending.At > elapsed && !p.opts.Unpaced {
				break
			}
			batch = append(batch, kafka.Message{Topic: pending.Topic, Key: pending.Key, Value: pending.Value})
			batchAt = pending.At
			pending = nil
		}
		if len(batch) > 0 {
			if err := p.w.WriteMessages(ctx, batch...); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("simulator: produce %d records: %w", len(batch), err)
			}
			sent += len(batch)
			p.lastAt = batchAt
		}
		if p.opts.Limit > 0 && sent >= p.opts.Limit {
			p.log.Info("simulator finished", "records", sent)
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case now := <-progress:
			s := p.Stats()
			rate := float64(sent-lastSent) / now.Sub(lastAt).Seconds()
			p.log.Info("simulator progress", "records", p.resumed+sent, "rate_per_s", int(rate), "orders", s.Orders,
				"stalled", s.Stalled, "missing", s.Missing, "out_of_order", s.Swapped, "backdated", s.Backdated,
				"duplicates", s.ByKind[Duplicate], "unknown", s.ByKind[Unknown], "malformed", s.ByKind[Malformed], "noise", s.ByKind[Noise])
			lastSent, lastAt = sent, now
			if err := p.saveState(sent); err != nil {
				return err
			}
		case <-tick.C:
		}
	}
}
