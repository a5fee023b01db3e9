package simulator

import (
	"context"
	"fmt"
	"log/slog"
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
	return &Producer{opts: opts, gen: NewGenerator(opts.Gen), w: w, log: opts.Logger.With("component", "simulator")}, nil
}

// Stats returns what has been generated so far.
func (p *Producer) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gen.Stats()
}

// Run produces until ctx ends or Limit records were written, then flushes and
// closes the writer.
func (p *Producer) Run(ctx context.Context) error {
	defer p.w.Close()
	start := time.Now()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var progress <-chan time.Time
	if p.opts.Progress > 0 {
		pt := time.NewTicker(p.opts.Progress)
		defer pt.Stop()
		progress = pt.C
	}
	sent, lastSent, lastAt := 0, 0, start
	var pending *Record
	batch := make([]kafka.Message, 0, 1024)
	for {
		elapsed := time.Since(start)
		batch = batch[:0]
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
			p.log.Info("simulator progress", "records", sent, "rate_per_s", int(rate), "orders", s.Orders,
				"stalled", s.Stalled, "missing", s.Missing, "out_of_order", s.Swapped, "backdated", s.Backdated,
				"duplicates", s.ByKind[Duplicate], "unknown", s.ByKind[Unknown], "malformed", s.ByKind[Malformed], "noise", s.ByKind[Noise])
			lastSent, lastAt = sent, now
		case <-tick.C:
		}
	}
}
