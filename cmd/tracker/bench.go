package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/spf13/cobra"
	"github.com/tidwall/gjson"

	"github.com/tracker-dev/tracker/broker"
	"github.com/tracker-dev/tracker/config"
	"github.com/tracker-dev/tracker/correlate"
	"github.com/tracker-dev/tracker/decisiontable"
	"github.com/tracker-dev/tracker/engine"
	"github.com/tracker-dev/tracker/models"
	"github.com/tracker-dev/tracker/simulator"
)

// benchOptions are the flags of `tracker bench ingest`.
type benchOptions struct {
	events     int
	partitions int
	batchSize  int
	group      int // engine.group_commit
	linger     time.Duration
	seed       uint64
	pacedRate  int
	pacedFor   time.Duration
	dataDir    string
	noSync     bool
	cacheSize  int
	verbose    bool
	cpuProfile string
	memProfile string
	nullEngine bool
	syncApply  bool
	alignSlack time.Duration
}

func newBenchCmd() *cobra.Command {
	bench := &cobra.Command{
		Use:   "bench",
		Short: "Measure the tracker's performance",
	}
	var o benchOptions
	ingest := &cobra.Command{
		Use:   "ingest",
		Short: "Measure end-to-end ingestion against the raw and durable floors",
		Long: `bench ingest starts an embedded Kafka-protocol broker, pre-produces --events simulator
events (order-fulfillment traffic with anomalies) and measures, in one run:

  raw      a kafka-go read of the topics with no processing (one reader per partition)
  durable  the same read plus decoding the four mapped fields (gjson) and appending each record
           with its offset to a Pebble batch committed (fsync) per 1,000: the least any durable
           tracker must pay
  tracker  the tracker consuming and correlating them end to end (correlate + engine, decision
           table for uncorrelated events), with fsync unless --no-sync

then a paced run (--paced-rate for --paced-for) for produce-to-applied latency. It prints events/s
for each, the slowest one-second window of the tracker run, p50/p99 latency and peak RSS, ending
with one line:

  ingest: tracker=<n> events/s raw=<n> events/s durable=<n> events/s ratio=<tracker/durable>`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBenchIngest(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	f := ingest.Flags()
	f.IntVar(&o.events, "events", 2_000_000, "events to pre-produce")
	f.IntVar(&o.partitions, "partitions", 4, "partitions per topic")
	f.IntVar(&o.batchSize, "batch-size", config.DefaultBatchSize, "tracker batch size (kafka.batch_size; default: the config default)")
	f.IntVar(&o.group, "group-commit", config.DefaultGroupCommit, "events per engine commit (engine.group_commit; 0 = every batch)")
	f.DurationVar(&o.linger, "linger", 5*time.Millisecond, "tracker batch linger (kafka.linger)")
	f.Uint64Var(&o.seed, "seed", 1, "simulator seed")
	f.IntVar(&o.pacedRate, "paced-rate", 10_000, "events/s of the latency run (0 skips it)")
	f.DurationVar(&o.pacedFor, "paced-for", 5*time.Second, "length of the latency run")
	f.StringVar(&o.dataDir, "data-dir", "", "where the engine and Pebble stores go (default: a temporary directory, removed after)")
	f.BoolVar(&o.noSync, "no-sync", false, "skip fsync in the tracker's engine and the durable floor")
	f.IntVar(&o.cacheSize, "cache-size", 0, "engine instance cache (engine.cache_size; default: the config default)")
	f.BoolVar(&o.verbose, "verbose", false, "log the tracker's warnings to stderr")
	f.DurationVar(&o.alignSlack, "align-slack", 0, "event-time alignment slack of the consumer (0 = its default, negative = off)")
	f.BoolVar(&o.syncApply, "sync-apply", false, "apply each batch with engine.Apply, waiting for its commit, instead of overlapping the commit with the next batch (ApplyAsync)")
	f.BoolVar(&o.nullEngine, "null-engine", false, "measure the consumer alone: an in-memory engine that only records positions")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the tracker run to this file")
	f.StringVar(&o.memProfile, "memprofile", "", "write a heap profile (live memory) at the end of the tracker run to this file")
	bench.AddCommand(ingest)
	return bench
}

func runBenchIngest(ctx context.Context, out io.Writer, o benchOptions) error {
	if o.events <= 0 {
		return errors.New("--events must be positive")
	}
	dir := o.dataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "tracker-bench-")
		if err != nil {
			return fmt.Errorf("create bench directory: %w", err)
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	logger := slog.New(slog.DiscardHandler)
	if o.verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}

	br, err := broker.Start(broker.Options{Addr: "127.0.0.1:0", Topics: simulator.Topics, Partitions: o.partitions})
	if err != nil {
		return fmt.Errorf("start embedded broker: %w", err)
	}
	defer br.Close()
	addr := br.Addr()
	fmt.Fprintf(out, "broker %s, %d topics x %d partitions, %d events\n", addr, len(simulator.Topics), o.partitions, o.events)

	began := time.Now()
	bytes, err := benchProduce(ctx, addr, o)
	if err != nil {
		return err
	}
	el := time.Since(began)
	fmt.Fprintf(out, "produce:  %d events (%.1f MB) in %s = %s events/s\n", o.events, float64(bytes)/1e6, el.Round(time.Millisecond), rate(o.events, el))

	ends, err := benchEnds(ctx, addr)
	if err != nil {
		return err
	}

	el, n, err := benchRaw(ctx, addr, ends, nil)
	if err != nil {
		return fmt.Errorf("raw read: %w", err)
	}
	rawRate := float64(n) / el.Seconds()
	fmt.Fprintf(out, "raw:      %d events in %s = %s events/s\n", n, el.Round(time.Millisecond), rate(n, el))

	el, n, err = benchDurable(ctx, addr, ends, filepath.Join(dir, "floor"), !o.noSync)
	if err != nil {
		return fmt.Errorf("durable floor: %w", err)
	}
	durableRate := float64(n) / el.Seconds()
	fmt.Fprintf(out, "durable:  %d events in %s = %s events/s\n", n, el.Round(time.Millisecond), rate(n, el))

	res, err := benchTracker(ctx, out, addr, ends, filepath.Join(dir, "tracker"), o, logger)
	if err != nil {
		return fmt.Errorf("tracker: %w", err)
	}
	trackerRate := float64(res.events) / res.elapsed.Seconds()
	fmt.Fprintf(out, "tracker:  %d events in %s = %s events/s (slowest 1 s window %s events/s; outcomes %s)\n",
		res.events, res.elapsed.Round(time.Millisecond), rate(res.events, res.elapsed), slowestText(res.slowest), res.outcomes)
	inEngine := res.applyTime + res.waitTime + res.tickTime
	outside := res.elapsed - inEngine
	fmt.Fprintf(out, "          %d batches (avg %d); of the run: engine Apply %s (%.0f%%), waiting for commits %s (%.0f%%), %d Ticks %s (%.0f%%),\n",
		res.batches, res.events/max(res.batches, 1),
		res.applyTime.Round(time.Millisecond), pct(res.applyTime, res.elapsed),
		res.waitTime.Round(time.Millisecond), pct(res.waitTime, res.elapsed),
		res.ticks, res.tickTime.Round(time.Millisecond), pct(res.tickTime, res.elapsed))
	fmt.Fprintf(out, "          outside the engine %s (%.0f%%: joining the group %s, no batch ready %s); engine alone (events / time in the engine) %s events/s\n",
		outside.Round(time.Millisecond), pct(outside, res.elapsed), res.joined.Round(time.Millisecond), res.idle.Round(time.Millisecond), rate(res.events, inEngine))
	fmt.Fprintf(out, "          process CPU %.1f µs/event (%.2f cores)\n",
		float64(res.cpu.Microseconds())/float64(max(res.events, 1)), res.cpu.Seconds()/res.elapsed.Seconds())
	st, per := res.store, float64(max(res.events, 1))
	fmt.Fprintf(out, "          store: WAL %.0f B/event, flushed %.0f B/event (%d flushes), compacted %.0f B/event (%d compactions), debt at the end %d MiB, L0 %d sublevels\n",
		float64(st.WALBytes)/per, float64(st.FlushedBytes)/per, st.Flushes, float64(st.CompactedBytes)/per, st.Compactions, st.CompactionDebt>>20, st.L0Sublevels)
	if res.latN > 0 {
		fmt.Fprintf(out, "latency:  %d of %d events paced at %d/s for %s (%s/s produced) applied: p50 %s p99 %s max %s (produce to applied)\n",
			res.latN, res.latSent, o.pacedRate, o.pacedFor, rate(res.latSent, o.pacedFor),
			res.p50.Round(10*time.Microsecond), res.p99.Round(10*time.Microsecond), res.pmax.Round(10*time.Microsecond))
	}
	fmt.Fprintf(out, "peak RSS: %s\n", peakRSS())
	fmt.Fprintf(out, "ingest: tracker=%.0f events/s raw=%.0f events/s durable=%.0f events/s ratio=%.2f\n",
		trackerRate, rawRate, durableRate, trackerRate/durableRate)
	return nil
}

func pct(part, whole time.Duration) float64 {
	if whole <= 0 {
		return 0
	}
	return 100 * part.Seconds() / whole.Seconds()
}

// benchCounter reads a counter of seconds from reg (0 if absent).
func benchCounter(reg *prometheus.Registry, name string) time.Duration {
	mfs, err := reg.Gather()
	if err != nil {
		return 0
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) > 0 {
			return time.Duration(mf.GetMetric()[0].GetCounter().GetValue() * float64(time.Second))
		}
	}
	return 0
}

// cpuTime is the CPU time (user and system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func rate(n int, d time.Duration) string {
	return strconv.FormatFloat(float64(n)/d.Seconds(), 'f', 0, 64)
}

// benchWriter is a producer tuned for bulk loading.
func benchWriter(addr string) *kafka.Writer {
	return &kafka.Writer{
		Addr: kafka.TCP(addr), Transport: &kafka.Transport{}, Balancer: &kafka.Hash{},
		BatchSize: 5000, BatchBytes: 16 << 20, BatchTimeout: 2 * time.Millisecond, RequiredAcks: kafka.RequireOne,
	}
}

// benchProduce writes o.events simulator records.
func benchProduce(ctx context.Context, addr string, o benchOptions) (int, error) {
	gen := simulator.NewGenerator(simulator.Options{Seed: o.seed, Rate: 1000, Start: time.Now().UTC().Add(-time.Hour)})
	w := benchWriter(addr)
	defer w.Close()
	const chunk = 20_000
	total := 0
	msgs := make([]kafka.Message, 0, chunk)
	for sent := 0; sent < o.events; {
		msgs = msgs[:0]
		for len(msgs) < chunk && sent+len(msgs) < o.events {
			r := gen.Next()
			msgs = append(msgs, kafka.Message{Topic: r.Topic, Key: r.Key, Value: r.Value})
			total += len(r.Value)
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			return 0, fmt.Errorf("pre-produce events: %w", err)
		}
		sent += len(msgs)
	}
	return total, nil
}

// benchEnds returns the end offset of every partition.
func benchEnds(ctx context.Context, addr string) (map[engine.TopicPartition]int64, error) {
	client := &kafka.Client{Addr: kafka.TCP(addr), Transport: &kafka.Transport{}}
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: simulator.Topics})
	if err != nil {
		return nil, fmt.Errorf("read topic metadata: %w", err)
	}
	req := map[string][]kafka.OffsetRequest{}
	for _, t := range meta.Topics {
		for _, p := range t.Partitions {
			req[t.Name] = append(req[t.Name], kafka.LastOffsetOf(p.ID))
		}
	}
	res, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: req})
	if err != nil {
		return nil, fmt.Errorf("list offsets: %w", err)
	}
	ends := map[engine.TopicPartition]int64{}
	for t, ps := range res.Topics {
		for _, p := range ps {
			if p.Error != nil {
				return nil, fmt.Errorf("offsets of %s/%d: %w", t, p.Partition, p.Error)
			}
			if p.LastOffset > 0 {
				ends[engine.TopicPartition{Topic: t, Partition: p.Partition}] = p.LastOffset
			}
		}
	}
	return ends, nil
}

// benchRaw reads every partition to its end with one reader each, handing
// each record to fn (if set) from the partition's goroutine.
func benchRaw(ctx context.Context, addr string, ends map[engine.TopicPartition]int64, fn func(kafka.Message) error) (time.Duration, int, error) {
	var total atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, len(ends))
	began := time.Now()
	for tp, end := range ends {
		wg.Go(func() {
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: tp.Topic, Partition: tp.Partition,
				MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 100 * time.Millisecond, QueueCapacity: 1024})
			defer r.Close()
			if err := r.SetOffset(kafka.FirstOffset); err != nil {
				errs <- err
				return
			}
			for {
				m, err := r.FetchMessage(ctx)
				if err != nil {
					errs <- err
					return
				}
				if fn != nil {
					if err := fn(m); err != nil {
						errs <- err
						return
					}
				}
				total.Add(1)
				if m.Offset+1 >= end {
					return
				}
			}
		})
	}
	wg.Wait()
	el := time.Since(began)
	close(errs)
	return el, int(total.Load()), errors.Join(slices.Collect(func(yield func(error) bool) {
		for e := range errs {
			if !yield(e) {
				return
			}
		}
	})...)
}

// benchDurable is the durable floor: read, decode the four mapped fields,
// append to a Pebble batch committed per 1,000 records.
func benchDurable(ctx context.Context, addr string, ends map[engine.TopicPartition]int64, dir string, fsync bool) (time.Duration, int, error) {
	db, err := pebble.Open(dir, &pebble.Options{Logger: benchPebbleLogger{}, MemTableSize: 64 << 20})
	if err != nil {
		return 0, 0, fmt.Errorf("open pebble %s: %w", dir, err)
	}
	defer db.Close()
	opt := pebble.NoSync
	if fsync {
		opt = pebble.Sync
	}
	type rec struct{ key, val []byte }
	ch := make(chan rec, 4096)
	var wg sync.WaitGroup
	var commitErr error
	wg.Go(func() {
		b := db.NewBatch()
		n := 0
		for r := range ch {
			if commitErr != nil {
				continue
			}
			if err := b.Set(r.key, r.val, nil); err != nil {
				commitErr = err
				continue
			}
			if n++; n == 1000 {
				commitErr = b.Commit(opt)
				b, n = db.NewBatch(), 0
			}
		}
		if commitErr == nil && n > 0 {
			commitErr = b.Commit(opt)
		}
	})
	el, total, err := benchRaw(ctx, addr, ends, func(m kafka.Message) error {
		fields := gjson.GetManyBytes(m.Value, "type", "orderId", "id", "time")
		key := fmt.Appendf(nil, "%s/%d/%020d", m.Topic, m.Partition, m.Offset)
		val := make([]byte, 0, 96)
		for _, f := range fields {
			val = append(val, f.Str...)
			val = append(val, 0)
		}
		select {
		case ch <- rec{key, val}:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	close(ch)
	wg.Wait()
	return el, total, errors.Join(err, commitErr)
}

type trackerResult struct {
	events         int
	elapsed        time.Duration
	slowest        int
	outcomes       string
	latN           int
	latSent        int // paced events produced (the producer may fall behind the rate on a busy machine)
	applyTime      time.Duration
	tickTime       time.Duration
	waitTime       time.Duration // waiting for commits started by ApplyAsync
	ticks          int
	idle           time.Duration // the consumer had no batch for the engine
	joined         time.Duration // from the start to the first applied batch
	cpu            time.Duration // process CPU time of the run
	store          engine.Stats  // the engine's store at the end of the run
	batches        int
	p50, p99, pmax time.Duration
}

const benchSentHeader = "bench-sent"

// benchTracker runs the consumer and the engine over the pre-produced
// events, then the paced latency run.
func benchTracker(ctx context.Context, out io.Writer, addr string, ends map[engine.TopicPartition]int64, dir string, o benchOptions, logger *slog.Logger) (trackerResult, error) {
	var res trackerResult
	repo, err := models.OpenRepository(filepath.Join(dir, "models"), models.RepositoryOptions{Logger: logger})
	if err != nil {
		return res, fmt.Errorf("open model repository: %w", err)
	}
	if _, _, _, err := repo.DeployAll(ctx, "order-fulfillment.bpmn", simulator.ModelXML); err != nil {
		return res, fmt.Errorf("deploy model: %w", err)
	}
	table, err := decisiontable.Parse("uncorrelated.dmn", simulator.DecisionsDMN)
	if err != nil {
		return res, fmt.Errorf("decision table: %w", err)
	}
	cache := o.cacheSize
	if cache <= 0 {
		cache = config.DefaultCacheSize // as the product runs by default
	}
	eng, err := engine.Open(engine.Options{Dir: filepath.Join(dir, "engine"), Processes: repo, Decider: newTableDecider(table),
		CacheSize: cache, NoSync: o.noSync, GroupCommit: o.group, Logger: logger})
	if err != nil {
		return res, fmt.Errorf("open engine: %w", err)
	}
	defer eng.Close()

	var total int64
	for _, e := range ends {
		total += e
	}
	var (
		mu       sync.Mutex
		applied  int64
		outcomes = map[benchOutcome]int{}
		windows  []int64 // applied count at each second
		lats     []time.Duration
		done     = make(chan struct{})
		closed   bool
		firstAt  time.Time
	)
	known := func(name string) bool { return len(repo.StartingOn(name)) > 0 || len(repo.Catching(name)) > 0 }
	src := config.Source{Name: "simulator", Topics: simulator.Topics, Format: "auto", MessageName: "$.type",
		CorrelationKey: "$.orderId", MessageID: "$.id", EventTime: "$.time", Variables: "$.data"}
	var inner correlate.Engine = eng
	if o.nullEngine {
		inner = &benchNullEngine{pos: map[engine.TopicPartition]int64{}}
	}
	timed := &benchTimedEngine{Engine: inner}
	var async func(context.Context, []engine.Message) (correlate.Pending, error)
	if !o.nullEngine && !o.syncApply {
		timed.async = eng
		async = timed.ApplyAsync
	}
	reg := prometheus.NewRegistry()
	cons, err := correlate.New(correlate.Options{
		Engine: timed, ApplyAsync: async, MaxPending: maxPending(o.group, o.batchSize), Registerer: reg, Sources: []config.Source{src}, Logger: logger, KnownMessage: known, AlignSlack: o.alignSlack,
		Kafka: config.Kafka{Brokers: []string{addr}, GroupID: "bench", BatchSize: o.batchSize,
			Linger: config.Duration{Duration: o.linger}, SessionTimeout: config.Duration{Duration: 10 * time.Second}},
		OnApplied: func(batch []engine.Message, outs []engine.Outcome) {
			now := time.Now()
			mu.Lock()
			defer mu.Unlock()
			if applied == 0 {
				firstAt = now
			}
			applied += int64(len(batch))
			for i := range outs {
				outcomes[benchOutcome{outs[i].Result, outs[i].Reason}]++
				for _, h := range batch[i].Headers {
					if h.Key == benchSentHeader {
						if ns, err := strconv.ParseInt(string(h.Value), 10, 64); err == nil {
							lats = append(lats, now.Sub(time.Unix(0, ns)))
						}
					}
				}
			}
			if applied >= total && !closed {
				closed = true
				close(done)
			}
		},
	})
	if err != nil {
		return res, err
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	runErr := make(chan error, 1)
	if o.cpuProfile != "" {
		pf, err := os.Create(o.cpuProfile)
		if err != nil {
			return res, fmt.Errorf("create CPU profile: %w", err)
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			return res, fmt.Errorf("start CPU profile: %w", err)
		}
		defer pf.Close()
		defer pprof.StopCPUProfile()
	}
	began, cpu0 := time.Now(), cpuTime()
	go func() { runErr <- cons.Run(rctx) }()
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
wait:
	for {
		select {
		case <-done:
			break wait
		case <-ticker.C:
			mu.Lock()
			windows = append(windows, applied)
			mu.Unlock()
		case err := <-runErr:
			return res, fmt.Errorf("consumer stopped: %w", err)
		case <-ctx.Done():
			return res, ctx.Err()
		}
	}
	res.elapsed, res.cpu = time.Since(began), cpuTime()-cpu0
	if res.store, err = eng.Stats(); err != nil {
		return res, err
	}
	if o.memProfile != "" {
		if err := writeHeapProfile(o.memProfile); err != nil {
			return res, err
		}
	}
	mu.Lock()
	res.joined = firstAt.Sub(began)
	res.events = int(applied)
	res.outcomes = benchOutcomesText(outcomes)
	res.applyTime, res.batches = time.Duration(timed.applyNs.Load()), int(timed.batches.Load())
	res.waitTime, res.ticks = time.Duration(timed.waitNs.Load()), int(timed.ticks.Load())
	res.idle = benchCounter(reg, "tracker_correlate_engine_idle_seconds_total")
	res.tickTime = time.Duration(timed.tickNs.Load())
	mu.Unlock()
	// The slowest full one-second window after the group was joined (the
	// first window includes joining).
	res.slowest = -1
	for i := 2; i < len(windows); i++ {
		if d := int(windows[i] - windows[i-1]); res.slowest < 0 || d < res.slowest {
			res.slowest = d
		}
	}

	if o.pacedRate > 0 && o.pacedFor > 0 {
		mu.Lock()
		lats = lats[:0]
		mu.Unlock()
		sent, err := benchPaced(ctx, addr, o)
		if err != nil {
			return res, err
		}
		res.latSent = sent
		// Wait for the paced events to be applied (bounded).
		want := sent
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			n := len(lats)
			mu.Unlock()
			if n >= want {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		mu.Lock()
		ls := slices.Clone(lats)
		mu.Unlock()
		slices.Sort(ls)
		if len(ls) > 0 {
			res.latN = len(ls)
			res.p50, res.p99, res.pmax = ls[len(ls)/2], ls[len(ls)*99/100], ls[len(ls)-1]
		}
	}
	cancel()
	if err := <-runErr; err != nil {
		return res, fmt.Errorf("consumer: %w", err)
	}
	return res, nil
}

// benchPaced produces fresh simulator events at o.pacedRate for o.pacedFor,
// each stamped with its send time, and returns how many it produced.
func benchPaced(ctx context.Context, addr string, o benchOptions) (int, error) {
	gen := simulator.NewGenerator(simulator.Options{Seed: o.seed + 1, Rate: 1000, Start: time.Now().UTC()})
	w := benchWriter(addr)
	w.BatchTimeout = time.Millisecond
	defer w.Close()
	const tick = 10 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	began := time.Now()
	total := 0
	var msgs []kafka.Message
	for {
		select {
		case <-ctx.Done():
			return total, ctx.Err()
		case <-t.C:
		}
		// Send what is due by now, so that a slow write (or a dropped tick)
		// is caught up and the rate holds on average.
		el := min(time.Since(began), o.pacedFor)
		due := int(float64(o.pacedRate)*el.Seconds()) - total
		msgs = msgs[:0]
		sent := strconv.FormatInt(time.Now().UnixNano(), 10)
		for range due {
			r := gen.Next()
			msgs = append(msgs, kafka.Message{Topic: r.Topic, Key: r.Key, Value: r.Value,
				Headers: []kafka.Header{{Key: benchSentHeader, Value: []byte(sent)}}})
		}
		if len(msgs) > 0 {
			if err := w.WriteMessages(ctx, msgs...); err != nil {
				return total, fmt.Errorf("paced produce: %w", err)
			}
		}
		total += len(msgs)
		if el >= o.pacedFor {
			return total, nil
		}
	}
}

// peakRSS reads the process's peak resident set size.
func peakRSS() string {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// benchTimedEngine measures the time the consumer spends in the engine.
type benchTimedEngine struct {
	correlate.Engine
	async                                   *engine.Engine // for ApplyAsync
	applyNs, waitNs, tickNs, batches, ticks atomic.Int64
}

// ApplyAsync times the engine's ApplyAsync and the consumer's wait for the
// commit.
func (t *benchTimedEngine) ApplyAsync(ctx context.Context, batch []engine.Message) (correlate.Pending, error) {
	began := time.Now()
	p, err := t.async.ApplyAsync(ctx, batch)
	t.applyNs.Add(int64(time.Since(began)))
	t.batches.Add(1)
	if err != nil {
		return nil, err
	}
	return timedPending{p, t}, nil
}

// timedPending counts the time spent waiting for a batch's commit.
type timedPending struct {
	*engine.Pending
	t *benchTimedEngine
}

func (p timedPending) Wait() ([]engine.Outcome, error) {
	began := time.Now()
	defer func() { p.t.waitNs.Add(int64(time.Since(began))) }()
	return p.Pending.Wait()
}

func (t *benchTimedEngine) Apply(ctx context.Context, batch []engine.Message) ([]engine.Outcome, error) {
	began := time.Now()
	defer func() { t.applyNs.Add(int64(time.Since(began))); t.batches.Add(1) }()
	return t.Engine.Apply(ctx, batch)
}

func (t *benchTimedEngine) Tick(ctx context.Context, wm time.Time) (engine.TickResult, error) {
	began := time.Now()
	defer func() { t.tickNs.Add(int64(time.Since(began))); t.ticks.Add(1) }()
	return t.Engine.Tick(ctx, wm)
}

// benchNullEngine applies nothing; it keeps positions in memory.
type benchNullEngine struct {
	mu  sync.Mutex
	pos map[engine.TopicPartition]int64
}

func (n *benchNullEngine) Apply(_ context.Context, batch []engine.Message) ([]engine.Outcome, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	outs := make([]engine.Outcome, len(batch))
	for i := range batch {
		outs[i].Result = engine.Correlated
		p := batch[i].Position
		if p.Topic != "" {
			n.pos[engine.TopicPartition{Topic: p.Topic, Partition: p.Partition}] = p.Offset + 1
		}
	}
	return outs, nil
}

func (n *benchNullEngine) Positions() map[engine.TopicPartition]int64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return maps.Clone(n.pos)
}

func (n *benchNullEngine) Tick(context.Context, time.Time) (engine.TickResult, error) {
	return engine.TickResult{}, nil
}

// benchOutcome counts outcomes by result and reason without building
// strings per message.
type benchOutcome struct {
	result engine.Result
	reason engine.Reason
}

func benchOutcomesText(counts map[benchOutcome]int) string {
	byKey := map[string]int{}
	for o, n := range counts {
		key := string(o.result)
		if o.reason != "" {
			key += "/" + string(o.reason)
		}
		byKey[key] += n
	}
	return fmt.Sprint(byKey)
}

// benchPebbleLogger keeps Pebble's informational lines out of the report.
type benchPebbleLogger struct{}

func (benchPebbleLogger) Infof(string, ...any) {}
func (benchPebbleLogger) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pebble: "+format+"\n", args...)
}
func (benchPebbleLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: "+format, args...))
}

func slowestText(n int) string {
	if n < 0 {
		return "n/a (run too short)"
	}
	return strconv.Itoa(n)
}

// writeHeapProfile writes the live heap (after a collection) to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create heap profile: %w", err)
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		return fmt.Errorf("write heap profile %s: %w", path, err)
	}
	return f.Close()
}
