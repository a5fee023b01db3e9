package correlate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/tracker-dev/tracker/config"
	"github.com/tracker-dev/tracker/engine"
	"github.com/tracker-dev/tracker/kafkaconn"
)

// Engine is what the consumer needs from the workflow engine; *engine.Engine
// satisfies it.
type Engine interface {
	// Apply applies a batch atomically, storing the batch's source positions
	// with its effects, and returns one outcome per message.
	Apply(ctx context.Context, batch []engine.Message) ([]engine.Outcome, error)
	// Positions returns the next offset to read per partition.
	Positions() map[engine.TopicPartition]int64
	// Tick fires timers due at or before min(now, watermark) and expires
	// buffered messages.
	Tick(ctx context.Context, watermark time.Time) (engine.TickResult, error)
}

// Options configure [New]. Zero values are the documented defaults.
type Options struct {
	Engine  Engine            // required
	Kafka   config.Kafka      // brokers are required when Sources is not empty
	Sources []config.Source   // may be empty: HTTP ingestion only
	HTTP    config.HTTPIngest // POST /api/v1/events settings
	Logger  *slog.Logger      // nil: discard
	// Registerer receives the consumer's metrics; nil: not registered.
	Registerer prometheus.Registerer
	Clock      func() time.Time // nil: time.Now
	// TickInterval is how often the engine's timers are ticked (default 500ms).
	TickInterval time.Duration
	// CommitInterval is the least time between Kafka offset commits (default
	// 1s). The engine's stored positions, not Kafka commits, decide where
	// reading resumes, so commits only serve lag monitoring.
	CommitInterval time.Duration
	// HTTPQueue is how many HTTP ingestion requests may wait for the pipeline
	// before further ones are refused with [ErrSaturated] (default 64).
	HTTPQueue int
	// OnApplied, if set, is called from the consumer's goroutine after every
	// batch is durably applied. It must not retain the slices.
	OnApplied func(batch []engine.Message, outcomes []engine.Outcome)
	// KnownMessage, if set, tells whether any deployed model uses a message
	// name. A record without a correlation key whose name no model uses is
	// then UNKNOWN_MESSAGE rather than MISSING_CORRELATION_KEY (the shared
	// example's Heartbeat). It is called from several goroutines.
	KnownMessage func(name string) bool
	// AlignSlack is how far ahead in event time a partition reading a
	// backlog may run of the other lagging partitions (default 1s; negative
	// turns alignment off). See docs/INGEST.md.
	AlignSlack time.Duration
	// AlignWait is how long a partition held by alignment waits when the
	// partitions behind it make no progress (default 2s).
	AlignWait time.Duration
	// OnTick, if set, is called from the consumer's goroutine after every
	// engine tick with its result.
	// Under the engine's group commit the result is reported before the
	// tick's effects are durable; if their group commit is rolled back,
	// they are reported again when a later tick redoes them.
	OnTick func(watermark time.Time, res engine.TickResult)
	// ApplyAsync, if set, is used instead of Engine.Apply: it applies a
	// batch in memory and returns it as a [Pending]. The consumer then
	// applies the next batches while earlier ones commit (like
	// [engine.Engine.ApplyAsync]; batches must become durable in the order
	// they were applied). When Engine is an *engine.Engine, its ApplyAsync
	// is used unless this is set.
	ApplyAsync func(ctx context.Context, batch []engine.Message) (Pending, error)
	// MaxPending is how many batches may be applied before the oldest is
	// durable (default 1). With an engine that groups commits
	// ([engine.Options.GroupCommit]) set it to about twice the batches of
	// a group, so the consumer keeps applying while a group fills. When no
	// next batch is ready it waits for one up to Kafka.Linger, then for the
	// oldest (which starts its commit), so a quiet topic is not delayed.
	MaxPending int
}

// Pending is a batch applied in memory whose commit may still be in flight
// (an *engine.Pending).
type Pending interface {
	// Wait blocks until the batch is durable and returns its outcomes; with
	// group commit it starts the commit of the batch's group.
	Wait() ([]engine.Outcome, error)
	// Done is closed once the batch is durable or failed; nil if unknown.
	Done() <-chan struct{}
}

// Errors of HTTP ingestion.
var (
	// ErrSaturated means the pipeline has no room: retry after a second.
	ErrSaturated = errors.New("correlate: ingestion pipeline saturated")
	// ErrStopped means the consumer is not running.
	ErrStopped = errors.New("correlate: consumer is not running")
)

// RetryAfter is the delay a saturated HTTP client is told to wait.
const RetryAfter = time.Second

// Consumer reads all sources' topics as one consumer group and applies the
// records to the engine. Create it with [New], start it with [Consumer.Run].
type Consumer struct {
	eng       Engine
	log       *slog.Logger
	clock     func() time.Time
	m         *metrics
	kafka     config.Kafka
	sources   []*Source
	byTopic   map[string]*Source
	topics    []string
	httpSrc   *Source
	maxReq    int64
	conn      *kafkaconn.Conn
	batchSize int
	linger    time.Duration
	tickEvery time.Duration
	commitGap time.Duration
	onApplied func([]engine.Message, []engine.Outcome)
	onTick    func(time.Time, engine.TickResult)
	known     func(string) bool
	// applyAsync is Options.ApplyAsync (or the engine's); nil: Engine.Apply.
	applyAsync func(ctx context.Context, batch []engine.Message) (Pending, error)
	maxPending int
	align      *aligner

	items  chan item
	ctl    chan any
	httpCh chan *httpReq

	running atomic.Bool
	stopped chan struct{}

	free chan *work // applied batches whose slices the batcher reuses

	// Owned by the applier goroutine.
	merge      merger
	gen        *kafka.Generation
	genID      int
	lastCommit time.Time
	lastTick   time.Time
	nextDue    time.Time // earliest pending timer after the last tick; zero if none
	dirty      bool      // offsets applied since the last commit
	dlq        *kafka.Writer
	counters   map[string]map[engine.Result]prometheus.Counter
	// The counters of the source counted last.
	lastSource   string
	lastCounters map[engine.Result]prometheus.Counter

	mu    sync.Mutex // guards parts and wm, read by Ready, Lag, Watermark
	parts map[engine.TopicPartition]*partState
	wm    time.Time
}

// partState is the consumer's view of one assigned partition.
type partState struct {
	pending   int64     // next offset to add to a batch
	next      int64     // next offset to apply (last durable + 1)
	applied   int64     // next offset after the last applied in memory (durable or not)
	end       int64     // high watermark as last seen; -1 unknown
	eventTime time.Time // latest event time applied in memory (the watermark's)
}

// item is one decoded record on its way to a batch.
type item struct {
	gen int
	msg engine.Message
	raw []byte // the record value, kept even when msg.Raw is dropped
	hwm int64
}

// meta is what a batch keeps next to each message.
type meta struct {
	raw []byte
	hwm int64
	gen int        // generation of a Kafka record
	ps  *partState // its partition, set when the applier accepts it
	req *httpReq
	idx int
}

type httpReq struct {
	msgs []engine.Message
	outs []engine.Outcome
	left int
	err  error
	done chan struct{}
}

type genStart struct {
	gen   *kafka.Generation
	reply chan genAssigned
}

type genAssigned struct {
	id     int
	starts map[engine.TopicPartition]int64
}

type genEnd struct{ id int }

// New checks the options and compiles the sources. It starts nothing.
func New(opts Options) (*Consumer, error) {
	if opts.Engine == nil {
		return nil, errors.New("correlate: Options.Engine is required")
	}
	c := &Consumer{
		eng:       opts.Engine,
		log:       opts.Logger,
		clock:     opts.Clock,
		kafka:     opts.Kafka,
		byTopic:   map[string]*Source{},
		batchSize: opts.Kafka.BatchSize,
		linger:    opts.Kafka.Linger.Duration,
		tickEvery: opts.TickInterval,
		commitGap: opts.CommitInterval,
		onApplied: opts.OnApplied,
		onTick:    opts.OnTick,
		known:     opts.KnownMessage,
		items:     make(chan item, 4096),
		ctl:       make(chan any),
		stopped:   make(chan struct{}),
		free:      make(chan *work, max(opts.MaxPending, 1)+1),
		parts:     map[engine.TopicPartition]*partState{},
		counters:  map[string]map[engine.Result]prometheus.Counter{},
	}
	c.applyAsync = opts.ApplyAsync
	c.maxPending = max(opts.MaxPending, 1)
	if e, ok := opts.Engine.(*engine.Engine); ok && c.applyAsync == nil {
		c.applyAsync = func(ctx context.Context, batch []engine.Message) (Pending, error) {
			p, err := e.ApplyAsync(ctx, batch)
			if err != nil {
				return nil, err
			}
			return p, nil
		}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With("component", "correlate")
	if c.clock == nil {
		c.clock = time.Now
	}
	if c.batchSize <= 0 {
		c.batchSize = 1000
	}
	if c.linger <= 0 {
		c.linger = 5 * time.Millisecond
	}
	if c.tickEvery <= 0 {
		c.tickEvery = 500 * time.Millisecond
	}
	if c.commitGap <= 0 {
		c.commitGap = time.Second
	}
	if opts.AlignSlack >= 0 {
		slack, wait := opts.AlignSlack, opts.AlignWait
		if slack == 0 {
			slack = time.Second
		}
		if wait <= 0 {
			wait = 2 * time.Second
		}
		c.align = newAligner(slack, wait)
	}
	queue := opts.HTTPQueue
	if queue <= 0 {
		queue = 64
	}
	c.httpCh = make(chan *httpReq, queue)
	var errs []error
	for i, cs := range opts.Sources {
		s, err := CompileSource(cs)
		if err != nil {
			errs = append(errs, fmt.Errorf("sources[%d]: %w", i, err))
			continue
		}
		if len(s.Topics) == 0 {
			errs = append(errs, fmt.Errorf("sources[%d] %q: no topics", i, s.Name))
		}
		for _, t := range s.Topics {
			if prev, dup := c.byTopic[t]; dup {
				errs = append(errs, fmt.Errorf("sources[%d] %q: topic %q is already read by source %q", i, s.Name, t, prev.Name))
				continue
			}
			c.byTopic[t] = s
			c.topics = append(c.topics, t)
		}
		c.sources = append(c.sources, s)
	}
	httpCfg := config.Source{Name: "http", Format: "cloudevents", BufferTTL: opts.HTTP.BufferTTL, MaxEventBytes: opts.HTTP.MaxEventBytes}
	hs, err := CompileSource(httpCfg)
	if err != nil {
		errs = append(errs, err)
	}
	c.httpSrc = hs
	c.maxReq = int64(opts.HTTP.MaxRequestBytes)
	if c.maxReq <= 0 {
		c.maxReq = 8 << 20
	}
	if len(c.topics) > 0 {
		if opts.Kafka.GroupID == "" {
			c.kafka.GroupID = "tracker"
		}
		conn, err := newConnection(opts.Kafka)
		if err != nil {
			errs = append(errs, err)
		}
		c.conn = conn
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("correlate: %w", err)
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("correlate: register metrics: %w", err)
	}
	c.m = m
	return c, nil
}

// Run consumes until ctx is cancelled, then finishes the batch in hand and
// leaves the group. It returns nil after a cancellation and an error when the
// engine fails. Run must be called once.
func (c *Consumer) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("correlate: Run called twice")
	}
	defer close(c.stopped)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var group *kafka.ConsumerGroup
	if len(c.topics) > 0 {
		g, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
			ID:                     c.kafka.GroupID,
			Brokers:                c.conn.Brokers,
			Dialer:                 c.conn.Dialer,
			Topics:                 c.topics,
			SessionTimeout:         orDur(c.kafka.SessionTimeout.Duration, 10*time.Second),
			RebalanceTimeout:       10 * time.Second,
			JoinGroupBackoff:       time.Second,
			WatchPartitionChanges:  true,
			PartitionWatchInterval: 2 * time.Second,
			StartOffset:            kafka.FirstOffset,
			Logger:                 kafka.LoggerFunc(func(f string, a ...any) { c.log.Debug(fmt.Sprintf(f, a...)) }),
			ErrorLogger:            kafka.LoggerFunc(func(f string, a ...any) { c.log.Warn(fmt.Sprintf(f, a...)) }),
		})
		if err != nil {
			c.running.Store(false)
			return fmt.Errorf("join consumer group %q: %w", c.kafka.GroupID, err)
		}
		group = g
		c.dlq = &kafka.Writer{
			Addr:                   kafka.TCP(c.conn.Brokers...),
			Transport:              c.conn.Transport,
			Balancer:               &kafka.Hash{},
			RequiredAcks:           kafka.RequireAll,
			BatchTimeout:           2 * time.Millisecond,
			AllowAutoTopicCreation: true,
		}
		wg.Go(func() { c.groupLoop(ctx, group) })
	}
	// The applier's context outlives ctx by at most finalGrace, so that the
	// batch in hand is applied after a cancellation.
	actx, acancel := context.WithCancel(context.WithoutCancel(ctx))
	defer acancel()
	pipe := make(chan *work) // unbuffered: a batch is handed over when the applier is free
	applierDone := make(chan struct{})
	var err error
	go func() {
		defer close(applierDone)
		err = c.applyLoop(actx, pipe)
	}()
	stopGrace := context.AfterFunc(ctx, func() {
		t := time.NewTimer(finalGrace)
		defer t.Stop()
		select {
		case <-t.C:
			acancel()
		case <-applierDone:
		}
	})
	c.batchLoop(ctx, pipe, applierDone)
	<-applierDone
	stopGrace()
	cancel()
	if group != nil {
		if cerr := group.Close(); cerr != nil {
			c.log.Debug("leave consumer group", "err", cerr)
		}
	}
	wg.Wait()
	if c.dlq != nil {
		if cerr := c.dlq.Close(); cerr != nil {
			c.log.Warn("close dead-letter writer", "err", cerr)
		}
	}
	c.running.Store(false)
	c.failWaiting(ErrStopped)
	c.mu.Lock()
	clear(c.parts)
	c.mu.Unlock()
	c.m.partitions.Set(0)
	return err
}

func orDur(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// groupLoop joins generation after generation and starts one reader per
// assigned partition at the offset the processor chose.
func (c *Consumer) groupLoop(ctx context.Context, group *kafka.ConsumerGroup) {
	for {
		gen, err := group.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, kafka.ErrGroupClosed) {
				return
			}
			c.log.Warn("join consumer group failed; retrying", "group", c.kafka.GroupID, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		c.m.rebalances.Inc()
		req := genStart{gen: gen, reply: make(chan genAssigned, 1)}
		select {
		case c.ctl <- req:
		case <-ctx.Done():
			return
		}
		var a genAssigned
		select {
		case a = <-req.reply:
		case <-ctx.Done():
			return
		}
		c.log.Info("consumer group generation", "generation", gen.ID, "member", gen.MemberID, "partitions", len(a.starts))
		for tp, off := range a.starts {
			gen.Start(func(gctx context.Context) { c.readPartition(ctx, gctx, a.id, tp, off) })
		}
		gen.Start(func(gctx context.Context) {
			select {
			case <-gctx.Done():
			case <-ctx.Done():
				return
			}
			select {
			case c.ctl <- genEnd{id: a.id}:
			case <-ctx.Done():
			}
		})
	}
}

// readPartition fetches one partition from offset and hands decoded records
// to the processor until the generation or the consumer ends.
func (c *Consumer) readPartition(ctx, gctx context.Context, genID int, tp engine.TopicPartition, offset int64) {
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	defer context.AfterFunc(gctx, stop)()
	defer c.align.leave(tp)
	src := c.byTopic[tp.Topic]
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:        c.conn.Brokers,
		Dialer:         c.conn.Dialer,
		Topic:          tp.Topic,
		Partition:      tp.Partition,
		MinBytes:       1,
		MaxBytes:       max(1<<20, src.MaxBytes+64<<10), // small fetches: a slow batch must not time out a large read
		MaxWait:        2 * time.Second,                 // also the response deadline: shorter times out under load
		QueueCapacity:  1024,
		ReadBackoffMin: 50 * time.Millisecond,
		ReadBackoffMax: time.Second,
		ErrorLogger: kafka.LoggerFunc(func(f string, a ...any) {
			c.log.Warn(fmt.Sprintf(f, a...), "topic", tp.Topic, "partition", tp.Partition)
		}),
	})
	defer r.Close()
	if err := r.SetOffset(offset); err != nil {
		c.log.Error("seek partition", "topic", tp.Topic, "partition", tp.Partition, "offset", offset, "err", err)
		return
	}
	for {
		km, err := r.FetchMessage(rctx)
		if err != nil {
			if rctx.Err() != nil {
				return
			}
			c.log.Warn("fetch failed; retrying", "topic", tp.Topic, "partition", tp.Partition, "err", err)
			select {
			case <-rctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		rec := Record{Topic: km.Topic, Partition: km.Partition, Offset: km.Offset, Key: km.Key, Value: km.Value, Time: km.Time}
		if len(km.Headers) > 0 {
			rec.Headers = make([]engine.Header, len(km.Headers))
			for i, h := range km.Headers {
				rec.Headers[i] = engine.Header{Key: h.Key, Value: h.Value}
			}
		}
		it := item{gen: genID, msg: src.Decode(&rec, c.clock()), raw: km.Value, hwm: km.HighWaterMark}
		c.refine(&it.msg)
		if it.msg.Invalid == "" { // an unreadable record has no event time worth aligning on
			c.align.wait(rctx, tp, it.msg.EventTime, km.HighWaterMark > km.Offset+1)
		}
		select {
		case c.items <- it: // room in the queue: the usual case, without a full select
		default:
			select {
			case c.items <- it:
			case <-rctx.Done():
				return
			}
		}
	}
}

// refine turns a missing correlation key into UNKNOWN_MESSAGE when no
// deployed model uses the message name.
func (c *Consumer) refine(m *engine.Message) {
	if c.known != nil && m.Invalid == engine.ReasonMissingCorrelationKey && !c.known(m.Name) {
		m.Invalid = engine.ReasonUnknownMessage
		m.Detail = fmt.Sprintf("no deployed model uses message %q (and %s)", m.Name, m.Detail)
	}
}

// The pipeline has two stages. The batcher ([Consumer.batchLoop]) gathers
// decoded records and HTTP requests into a batch; the applier
// ([Consumer.applyLoop]) applies batches to the engine one at a time, in the
// order the batcher hands them over, and owns the positions, commits, ticks
// and dead letters. While the engine applies one batch the next one fills, so
// the engine does not wait for batching, and the batch grows to whatever
// arrived meanwhile (up to the batch size): group commit.

// work is what the batcher hands to the applier: a batch, or a control
// message (a generation starts or ends) to handle after the batches before it.
type work struct {
	msgs  []engine.Message
	metas []meta
	ctl   any
	// The batch merged by event time (see [merger]).
	mergedMsgs  []engine.Message
	mergedMetas []meta
}

// finalGrace bounds how long the applier may take to finish the batch in
// hand (and write its dead letters) after the consumer is cancelled.
const finalGrace = 30 * time.Second

// newWork returns an empty batch, reusing the slices of an applied one.
func (c *Consumer) newWork() *work {
	select {
	case w := <-c.free:
		return w
	default:
		return &work{msgs: make([]engine.Message, 0, c.batchSize), metas: make([]meta, 0, c.batchSize)}
	}
}

// recycle gives an applied batch's slices back to the batcher.
func (c *Consumer) recycle(w *work) {
	clear(w.msgs) // drop the records' bytes
	clear(w.metas)
	clear(w.mergedMsgs)
	clear(w.mergedMetas)
	w.msgs, w.metas = w.msgs[:0], w.metas[:0]
	w.mergedMsgs, w.mergedMetas = w.mergedMsgs[:0], w.mergedMetas[:0]
	select {
	case c.free <- w:
	default:
	}
}

func (w *work) addItem(it *item) {
	w.msgs = append(w.msgs, it.msg)
	w.metas = append(w.metas, meta{raw: it.raw, hwm: it.hwm, gen: it.gen})
}

func (w *work) addRequest(r *httpReq) {
	for i := range r.msgs {
		w.msgs = append(w.msgs, r.msgs[i])
		w.metas = append(w.metas, meta{req: r, idx: i, hwm: -1})
	}
}

// failRequests answers the HTTP requests of a batch that will not be applied.
func failRequests(metas []meta, err error) {
	for _, mt := range metas {
		if mt.req != nil && mt.req.err == nil {
			mt.req.err = err
			close(mt.req.done)
		}
	}
}

// batchLoop is the batcher. A batch is ready when it holds batchSize
// messages or linger has passed since its first one; a ready batch goes to
// the applier as soon as the applier is free, and keeps taking records until
// then. A full batch takes no more records, and a ready one no more HTTP
// requests, which then wait in their queue (and further ones are refused).
// When ctx ends the batch in hand is handed over and out is closed.
func (c *Consumer) batchLoop(ctx context.Context, out chan<- *work, applierDone <-chan struct{}) {
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	defer linger.Stop()
	w := c.newWork()
	lingered := false
	// hand gives x to the applier; false when the applier has stopped.
	hand := func(x *work) bool {
		select {
		case out <- x:
			return true
		case <-applierDone:
			return false
		}
	}
	next := func() {
		w, lingered = c.newWork(), false
		linger.Stop()
	}
	for {
		full := len(w.msgs) >= c.batchSize
		var send chan<- *work
		items, reqs := c.items, c.httpCh
		if full || (lingered && len(w.msgs) > 0) {
			send, reqs = out, nil
		}
		if full {
			items = nil
		}
		select {
		case send <- w:
			next()
		case it := <-items:
			if len(w.msgs) == 0 {
				linger.Reset(c.linger)
			}
			w.addItem(&it)
			// Take what is already waiting without a full select per record.
		drain:
			for len(w.msgs) < c.batchSize {
				select {
				case it = <-c.items:
					w.addItem(&it)
				default:
					break drain
				}
			}
		case r := <-reqs:
			if len(w.msgs) == 0 {
				linger.Reset(c.linger)
			}
			w.addRequest(r)
		case <-linger.C:
			lingered = true
		case cm := <-c.ctl:
			// A generation change waits for the batches before it.
			if len(w.msgs) > 0 {
				if !hand(w) {
					failRequests(w.metas, ErrStopped)
					return
				}
				next()
			}
			if !hand(&work{ctl: cm}) {
				return
			}
		case <-ctx.Done():
			if len(w.msgs) > 0 && !hand(w) {
				failRequests(w.metas, ErrStopped)
			}
			close(out)
			return
		case <-applierDone:
			failRequests(w.metas, ErrStopped)
			return
		}
	}
}

// applyLoop is the applier: it applies the batches the batcher hands over,
// handles generation changes after the batches before them, commits and
// ticks the engine. With an engine that commits asynchronously it applies
// the next batches while earlier ones commit, as long as the next one is
// ready and at most maxPending are not yet durable; a batch's outcomes are
// acted on (positions, dead letters, HTTP answers, OnApplied) only once it
// is durable, and generation changes happen with no batch in flight (ticks
// too, unless the engine commits asynchronously). It returns nil when in is
// closed (after a final commit) and an error when the engine fails.
func (c *Consumer) applyLoop(ctx context.Context, in <-chan *work) error {
	ticker := time.NewTicker(c.tickEvery)
	defer ticker.Stop()
	if err := c.tick(ctx); err != nil {
		return err
	}
	var pends []*applying        // applied, oldest first, their commits maybe in flight
	landOldest := func() error { // on failure the later batches fail too
		a := pends[0]
		pends[0] = nil
		pends = pends[1:]
		err := c.land(ctx, a)
		if err != nil {
			for _, a := range pends {
				failRequests(a.metas, err)
			}
			pends = nil
		}
		return err
	}
	landAll := func() error {
		for len(pends) > 0 {
			if err := landOldest(); err != nil {
				return err
			}
		}
		return nil
	}
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	tickDue := false
	for {
		// With ApplyAsync the engine ticks without the batches still
		// committing (under group commit it neither waits for them nor
		// sees their keys: their due items wait for a later Tick), so the
		// pipeline keeps flowing.
		if tickDue && (len(pends) == 0 || c.applyAsync != nil) {
			tickDue = false
			c.commit(false)
			if err := c.tick(ctx); err != nil {
				return err
			}
		}
		var w *work
		open := true
		switch {
		case len(pends) == 0:
			idle := time.Now()
			select {
			case w, open = <-in:
				c.m.idleSecs.Add(time.Since(idle).Seconds())
			case <-ticker.C:
				c.m.idleSecs.Add(time.Since(idle).Seconds())
				tickDue = true
				continue
			}
		case !tickDue:
			// Batches are committing: apply the next one meanwhile if it
			// is ready. Else wait for it up to the linger, or until the
			// oldest batch is durable; then land the oldest (Wait starts
			// its group's commit, so a quiet topic is not delayed).
			select {
			case w, open = <-in:
			case <-ticker.C:
				tickDue = true
			default:
				linger.Reset(c.linger)
				select {
				case w, open = <-in:
				case <-ticker.C:
					tickDue = true
				case <-pends[0].done():
				case <-linger.C:
				}
				linger.Stop()
			}
		}
		if !open {
			err := landAll()
			c.commit(true)
			return err
		}
		if w != nil && w.ctl != nil {
			if err := landAll(); err != nil {
				return err
			}
			c.control(ctx, w.ctl)
			continue
		}
		if w == nil { // nothing ready, or a tick is due
			if tickDue {
				if c.applyAsync == nil {
					if err := landAll(); err != nil {
						return err
					}
				}
			} else if err := landOldest(); err != nil {
				return err
			}
			continue
		}
		next, err := c.start(ctx, w)
		if err != nil {
			_ = landAll() // batches that shared the failed batch's group commit fail with it
			return err
		}
		if next != nil {
			pends = append(pends, next)
		}
		if next != nil && next.wait == nil { // applied synchronously
			if err := landAll(); err != nil {
				return err
			}
		}
		for len(pends) > c.maxPending || len(pends) > 0 && pends[0].durable() {
			if err := landOldest(); err != nil {
				return err
			}
		}
		// Between the periodic ticks, tick early only when a known timer
		// has become due at the new watermark: a tick costs the engine a
		// scan.
		if !c.nextDue.IsZero() && time.Since(c.lastTick) >= c.tickEvery/4 && !c.computeWatermark(c.clock()).Before(c.nextDue) {
			tickDue = true
		}
	}
}

// control handles a generation change; every batch handed over before it
// has been applied.
func (c *Consumer) control(ctx context.Context, cm any) {
	switch cm := cm.(type) {
	case genStart:
		cm.reply <- c.startGeneration(ctx, cm.gen)
	case genEnd:
		if cm.id == c.genID {
			c.commit(true)
			c.gen = nil
			c.mu.Lock()
			clear(c.parts)
			c.mu.Unlock()
			c.m.partitions.Set(0)
		}
	}
}

// accept returns the partition of a record to be applied, nil when it
// belongs to an ended generation or lies behind the partition's position
// (already applied).
func (c *Consumer) accept(m *engine.Message, gen int) *partState {
	if gen != c.genID {
		return nil
	}
	p := m.Position
	ps := c.parts[engine.TopicPartition{Topic: p.Topic, Partition: p.Partition}]
	if ps == nil || p.Offset < ps.pending {
		return nil
	}
	ps.pending = p.Offset + 1
	return ps
}

// startGeneration chooses where every assigned partition starts: the
// engine's stored position, else the group's committed offset, else the
// beginning of the partition.
func (c *Consumer) startGeneration(ctx context.Context, gen *kafka.Generation) genAssigned {
	c.genID++
	c.gen = gen
	positions := c.eng.Positions()
	req := map[string][]kafka.OffsetRequest{}
	for topic, as := range gen.Assignments {
		for _, a := range as {
			req[topic] = append(req[topic], kafka.FirstOffsetOf(a.ID), kafka.LastOffsetOf(a.ID))
		}
	}
	bounds := map[engine.TopicPartition]kafka.PartitionOffsets{}
	if len(req) > 0 {
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		client := &kafka.Client{Addr: kafka.TCP(c.conn.Brokers...), Transport: c.conn.Transport}
		res, err := client.ListOffsets(lctx, &kafka.ListOffsetsRequest{Topics: req})
		cancel()
		if err != nil {
			c.log.Warn("list partition offsets; lag unknown until records arrive", "err", err)
		} else {
			for topic, ps := range res.Topics {
				for _, p := range ps {
					if p.Error == nil {
						bounds[engine.TopicPartition{Topic: topic, Partition: p.Partition}] = p
					}
				}
			}
		}
	}
	starts := map[engine.TopicPartition]int64{}
	parts := map[engine.TopicPartition]*partState{}
	c.m.lag.Reset()
	for topic, as := range gen.Assignments {
		for _, a := range as {
			tp := engine.TopicPartition{Topic: topic, Partition: a.ID}
			b, known := bounds[tp]
			start, stored := positions[tp]
			from := "engine"
			switch {
			case stored:
			case a.Offset >= 0:
				start, from = a.Offset, "group commit"
			case known:
				start, from = b.FirstOffset, "beginning"
			default:
				start, from = kafka.FirstOffset, "beginning"
			}
			if known && start > b.LastOffset {
				c.log.Error("the stored position is beyond the end of the partition (was the topic recreated?); reading it from its start",
					"topic", topic, "partition", a.ID, "position", start, "end", b.LastOffset)
				start = b.FirstOffset
			}
			if known && start >= 0 && start < b.FirstOffset {
				c.log.Warn("records before the stored position were deleted from the partition; continuing at its start",
					"topic", topic, "partition", a.ID, "position", start, "first", b.FirstOffset)
				start = b.FirstOffset
			}
			ps := &partState{pending: max(start, 0), next: max(start, 0), applied: max(start, 0), end: -1}
			if known {
				if max(start, b.FirstOffset) < b.LastOffset {
					c.align.enter(tp)
				}
				ps.end = b.LastOffset
				c.m.lag.WithLabelValues(topic, strconv.Itoa(a.ID)).Set(float64(max(ps.end-ps.next, 0)))
			}
			parts[tp] = ps
			starts[tp] = start
			c.log.Debug("partition assigned", "topic", topic, "partition", a.ID, "offset", start, "from", from)
		}
	}
	c.mu.Lock()
	c.parts = parts
	c.mu.Unlock()
	c.m.partitions.Set(float64(len(parts)))
	return genAssigned{id: c.genID, starts: starts}
}

// applying is a batch given to the engine, from the start of its Apply
// until it is durable.
type applying struct {
	w     *work
	batch []engine.Message // in the order applied
	metas []meta
	began time.Time
	wait  Pending // nil: applied synchronously, outs set
	outs  []engine.Outcome
}

// done is closed once the batch is durable (nil if unknown).
func (a *applying) done() <-chan struct{} {
	if a.wait == nil {
		return nil
	}
	return a.wait.Done()
}

// durable reports whether done is closed.
func (a *applying) durable() bool {
	select {
	case <-a.done():
		return true
	default:
		return false
	}
}

// start filters and orders a batch and gives it to the engine. It returns
// nil when nothing of the batch is to be applied.
func (c *Consumer) start(ctx context.Context, w *work) (*applying, error) {
	// Drop records the engine has (or the generation no longer wants), in place.
	n := 0
	for i := range w.msgs {
		if w.metas[i].req == nil {
			if w.metas[i].ps = c.accept(&w.msgs[i], w.metas[i].gen); w.metas[i].ps == nil {
				continue
			}
		}
		if n != i {
			w.msgs[n], w.metas[n] = w.msgs[i], w.metas[i]
		}
		n++
	}
	clear(w.msgs[n:])
	w.msgs, w.metas = w.msgs[:n], w.metas[:n]
	if n == 0 {
		c.recycle(w)
		return nil, nil
	}
	a := &applying{w: w, began: time.Now()}
	a.batch, a.metas = c.merge.merge(w.msgs, w.metas, &w.mergedMsgs, &w.mergedMetas)
	var err error
	if c.applyAsync != nil {
		a.wait, err = c.applyAsync(ctx, a.batch)
	} else {
		a.outs, err = c.eng.Apply(ctx, a.batch)
	}
	if err != nil {
		err = fmt.Errorf("apply batch of %d messages: %w", len(a.batch), err)
		failRequests(a.metas, err)
		return nil, err
	}
	// The watermark counts what is applied in memory, durable or not: a
	// Tick's effects land in the same commit as these batches or a later
	// one, never without them.
	c.mu.Lock()
	for i := range a.batch {
		if ps, m := a.metas[i].ps, &a.batch[i]; ps != nil && a.metas[i].req == nil {
			ps.applied = max(ps.applied, m.Position.Offset+1)
			ps.end = max(ps.end, a.metas[i].hwm)
			if m.Invalid == "" && m.EventTime.After(ps.eventTime) {
				ps.eventTime = m.EventTime
			}
		}
	}
	c.mu.Unlock()
	return a, nil
}

// land waits until a batch is durable, then updates the partitions'
// positions, writes the batch's dead letters and answers its HTTP requests.
func (c *Consumer) land(ctx context.Context, a *applying) error {
	defer c.recycle(a.w)
	batch, metas := a.batch, a.metas
	outs, err := a.outs, error(nil)
	if a.wait != nil {
		outs, err = a.wait.Wait()
	}
	if err == nil && len(outs) != len(batch) {
		err = fmt.Errorf("engine returned %d outcomes for %d messages", len(outs), len(batch))
	}
	if err != nil {
		err = fmt.Errorf("apply batch of %d messages: %w", len(batch), err)
		failRequests(metas, err)
		return err
	}
	c.m.applySecs.Observe(time.Since(a.began).Seconds())
	c.m.batches.Inc()
	c.m.batchSize.Observe(float64(len(batch)))
	var dead []kafka.Message
	var deadSources []string
	c.mu.Lock()
	for i := range batch {
		m, out, mt := &batch[i], &outs[i], &metas[i]
		c.count(m, out)
		if mt.req != nil {
			mt.req.outs[mt.idx] = *out
			if mt.req.left--; mt.req.left == 0 {
				close(mt.req.done)
			}
			continue
		}
		if ps := mt.ps; ps != nil { // still assigned: generations change with no batch in flight
			ps.next = max(ps.next, m.Position.Offset+1)
			ps.end = max(ps.end, mt.hwm)
		}
		c.dirty = true
		if out.Decision != nil && out.Decision.Action == engine.DecisionDeadLetter {
			if src := c.byTopic[m.Position.Topic]; src != nil && src.DeadLetter != "" {
				dead = append(dead, deadLetter(src, m, out, mt.raw, c.clock()))
				deadSources = append(deadSources, src.Name)
			}
		}
	}
	for tp, ps := range c.parts {
		if ps.end >= 0 {
			c.m.lag.WithLabelValues(tp.Topic, strconv.Itoa(tp.Partition)).Set(float64(max(ps.end-ps.next, 0)))
		}
	}
	c.mu.Unlock()
	if len(dead) > 0 {
		if err := c.writeDeadLetters(ctx, dead); err != nil {
			return err
		}
		for _, s := range deadSources {
			c.m.deadLetters.WithLabelValues(s).Inc()
		}
	}
	if c.onApplied != nil {
		c.onApplied(batch, outs)
	}
	return nil
}

func (c *Consumer) count(m *engine.Message, out *engine.Outcome) {
	byResult := c.lastCounters
	if byResult == nil || m.Source != c.lastSource { // a batch is mostly one source
		byResult = c.counters[m.Source]
		if byResult == nil {
			byResult = map[engine.Result]prometheus.Counter{}
			c.counters[m.Source] = byResult
		}
		c.lastSource, c.lastCounters = m.Source, byResult
	}
	ctr := byResult[out.Result]
	if ctr == nil {
		ctr = c.m.messages.WithLabelValues(m.Source, string(out.Result))
		byResult[out.Result] = ctr
	}
	ctr.Inc()
	if m.Invalid != "" {
		c.m.invalid.WithLabelValues(m.Source, string(m.Invalid)).Inc()
	}
	if m.Position.Topic == "" {
		c.m.httpEvents.WithLabelValues(string(out.Result)).Inc()
	}
}

// Dead-letter headers added to the original record's headers.
const (
	HeaderErrorReason    = "tracker-error-reason"
	HeaderErrorDetail    = "tracker-error-detail"
	HeaderErrorSource    = "tracker-error-source"
	HeaderErrorTopic     = "tracker-error-topic"
	HeaderErrorPartition = "tracker-error-partition"
	HeaderErrorOffset    = "tracker-error-offset"
	HeaderErrorRule      = "tracker-error-rule"
	HeaderErrorNote      = "tracker-error-note"
	HeaderErrorTime      = "tracker-error-time"
)

func deadLetter(src *Source, m *engine.Message, out *engine.Outcome, raw []byte, now time.Time) kafka.Message {
	hs := make([]kafka.Header, 0, len(m.Headers)+9)
	for _, h := range m.Headers {
		hs = append(hs, kafka.Header{Key: h.Key, Value: h.Value})
	}
	add := func(k, v string) {
		if v != "" {
			hs = append(hs, kafka.Header{Key: k, Value: []byte(v)})
		}
	}
	add(HeaderErrorReason, string(out.Reason))
	add(HeaderErrorDetail, m.Detail)
	add(HeaderErrorSource, src.Name)
	add(HeaderErrorTopic, m.Position.Topic)
	add(HeaderErrorPartition, strconv.Itoa(m.Position.Partition))
	add(HeaderErrorOffset, strconv.FormatInt(m.Position.Offset, 10))
	add(HeaderErrorRule, out.Decision.RuleID)
	add(HeaderErrorNote, out.Decision.Note)
	add(HeaderErrorTime, now.UTC().Format(time.RFC3339Nano))
	return kafka.Message{Topic: src.DeadLetter, Key: m.Key, Value: raw, Headers: hs}
}

// writeDeadLetters retries until the records are written or ctx ends; the
// offsets are not committed before.
func (c *Consumer) writeDeadLetters(ctx context.Context, msgs []kafka.Message) error {
	backoff := 200 * time.Millisecond
	for {
		err := c.dlq.WriteMessages(ctx, msgs...)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("write %d dead letters: %w", len(msgs), err)
		}
		c.log.Warn("write dead letters failed; retrying", "records", len(msgs), "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return fmt.Errorf("write %d dead letters: %w", len(msgs), ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// commit commits the applied offsets to the group, at most once per
// CommitInterval unless forced.
func (c *Consumer) commit(force bool) {
	if c.gen == nil || !c.dirty || (!force && time.Since(c.lastCommit) < c.commitGap) {
		return
	}
	offsets := map[string]map[int]int64{}
	c.mu.Lock()
	for tp, ps := range c.parts {
		if offsets[tp.Topic] == nil {
			offsets[tp.Topic] = map[int]int64{}
		}
		offsets[tp.Topic][tp.Partition] = ps.next
	}
	c.mu.Unlock()
	c.lastCommit, c.dirty = time.Now(), false
	if err := c.gen.CommitOffsets(offsets); err != nil {
		c.log.Debug("commit offsets (lag monitoring only; the engine keeps the positions)", "err", err)
	}
}

// tick advances the engine's timers to the watermark.
func (c *Consumer) tick(ctx context.Context) error {
	now := c.clock()
	wm := c.computeWatermark(now)
	c.lastTick = time.Now()
	res, err := c.eng.Tick(ctx, wm)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("tick engine to watermark %s: %w", wm.Format(time.RFC3339), err)
	}
	c.nextDue = res.NextDue
	c.m.tickFired.Add(float64(res.Fired))
	c.m.tickExpired.Add(float64(res.Expired))
	for _, out := range res.Outcomes {
		c.m.messages.WithLabelValues("tick", string(out.Result)).Inc()
	}
	if c.onTick != nil {
		c.onTick(wm, res)
	}
	return nil
}

func (c *Consumer) computeWatermark(now time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	wm := now
	switch {
	case len(c.topics) == 0:
	case len(c.parts) == 0:
		wm = time.Time{}
	default:
		for _, ps := range c.parts {
			if ps.end >= 0 && ps.applied >= ps.end {
				continue // caught up: "now"
			}
			if ps.eventTime.Before(wm) {
				wm = ps.eventTime
			}
		}
	}
	c.wm = wm
	if wm.IsZero() {
		c.m.watermark.Set(0)
	} else {
		c.m.watermark.Set(float64(wm.UnixMilli()) / 1000)
	}
	return wm
}

// Ready reports whether the consumer runs and has partitions assigned (or
// has no topics to read).
func (c *Consumer) Ready() bool {
	if !c.running.Load() {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.topics) == 0 || len(c.parts) > 0
}

// Watermark returns the event-time watermark last given to the engine: the
// minimum over assigned partitions of the event time of the last applied
// record, counting partitions without lag as now. It is zero while unknown.
func (c *Consumer) Watermark() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wm
}

// Lag returns, per assigned partition, how many records are behind its high
// watermark as last seen (-1 when not known yet).
func (c *Consumer) Lag() map[engine.TopicPartition]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[engine.TopicPartition]int64, len(c.parts))
	for tp, ps := range c.parts {
		if ps.end < 0 {
			out[tp] = -1
		} else {
			out[tp] = max(ps.end-ps.next, 0)
		}
	}
	return out
}

// Topics returns the topics the consumer reads, sorted.
func (c *Consumer) Topics() []string {
	return slices.Sorted(slices.Values(c.topics))
}

// failWaiting answers HTTP requests still queued when the consumer stops.
func (c *Consumer) failWaiting(err error) {
	for {
		select {
		case r := <-c.httpCh:
			r.err = err
			close(r.done)
		default:
			return
		}
	}
}

// Readiness reports readiness with detail for /readyz: assigned partitions,
// total lag and the watermark.
func (c *Consumer) Readiness() (bool, any) {
	lag := c.Lag()
	var total int64
	for _, l := range lag {
		total += max(l, 0)
	}
	detail := map[string]any{"topics": c.Topics(), "partitions": len(lag), "lag": total}
	if wm := c.Watermark(); !wm.IsZero() {
		detail["watermark"] = wm.UTC().Format(time.RFC3339)
	}
	return c.Ready(), detail
}

// mergeByEventTime reorders a batch so that the records of different
// partitions interleave by event time, keeping each partition's (and each
// HTTP request's) own order: a k-way merge on the event time of each
// sequence's next message. When a backlog is read from several partitions at
// once, this applies an event before the later events of other partitions in
// the same batch (DESIGN.md §4.5), so fewer messages wait in the engine's
// buffer. Exactly-once is unaffected: the batch is applied atomically and the
// engine stores each partition's highest offset.
func mergeByEventTime(batch []engine.Message, metas []meta) ([]engine.Message, []meta) {
	var g merger
	var outB []engine.Message
	var outM []meta
	return g.merge(batch, metas, &outB, &outM)
}

// merger does [mergeByEventTime] with scratch buffers it keeps from batch to
// batch, into output buffers the caller keeps.
type merger struct {
	seqOf map[engine.TopicPartition]int32
	reqOf map[*httpReq]int32
	seq   []int32 // sequence of each message
	count []int32 // messages per sequence, then where its next one is in idx
	end   []int32 // where each sequence ends in idx
	idx   []int32 // message indexes grouped by sequence, in batch order
	sec   []int64 // event time of each message: Unix seconds
	nsec  []int32 // and nanoseconds
}

// merge returns the batch merged into *outB and *outM (grown as needed), or
// batch and metas themselves when they hold one sequence.
func (g *merger) merge(batch []engine.Message, metas []meta, outB *[]engine.Message, outM *[]meta) ([]engine.Message, []meta) {
	if g.seqOf == nil {
		g.seqOf = map[engine.TopicPartition]int32{}
		g.reqOf = map[*httpReq]int32{}
	}
	clear(g.seqOf)
	clear(g.reqOf)
	n := len(batch)
	g.seq = slices.Grow(g.seq[:0], n)[:n]
	g.count = g.count[:0]
	for i := range batch {
		var s int32
		var ok bool
		if r := metas[i].req; r != nil {
			if s, ok = g.reqOf[r]; !ok {
				s = int32(len(g.count))
				g.reqOf[r] = s
			}
		} else {
			tp := engine.TopicPartition{Topic: batch[i].Position.Topic, Partition: batch[i].Position.Partition}
			if s, ok = g.seqOf[tp]; !ok {
				s = int32(len(g.count))
				g.seqOf[tp] = s
			}
		}
		if !ok {
			g.count = append(g.count, 0)
		}
		g.count[s]++
		g.seq[i] = s
	}
	k := len(g.count)
	if k < 2 {
		return batch, metas
	}
	// Group the indexes by sequence: count[s] becomes where sequence s starts.
	g.end = slices.Grow(g.end[:0], k)[:k]
	var at int32
	for s, c := range g.count {
		g.count[s] = at
		at += c
		g.end[s] = at
	}
	g.idx = slices.Grow(g.idx[:0], n)[:n]
	g.sec = slices.Grow(g.sec[:0], n)[:n]
	g.nsec = slices.Grow(g.nsec[:0], n)[:n]
	for i := range batch {
		s := g.seq[i]
		g.idx[g.count[s]] = int32(i)
		g.count[s]++
		t := batch[i].EventTime
		g.sec[i], g.nsec[i] = t.Unix(), int32(t.Nanosecond())
	}
	for s := range k { // back to the starts
		if s == 0 {
			g.count[s] = 0
		} else {
			g.count[s] = g.end[s-1]
		}
	}
	ob, om := slices.Grow((*outB)[:0], n), slices.Grow((*outM)[:0], n)
	for range n {
		best, bi := -1, int32(0)
		for s := range k {
			p := g.count[s]
			if p == g.end[s] {
				continue
			}
			i := g.idx[p]
			if best < 0 || g.sec[i] < g.sec[bi] || (g.sec[i] == g.sec[bi] && g.nsec[i] < g.nsec[bi]) {
				best, bi = s, i
			}
		}
		g.count[best]++
		ob = append(ob, batch[bi])
		om = append(om, metas[bi])
	}
	*outB, *outM = ob, om
	return ob, om
}
