package engine

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"
)

var orderSteps = []string{"OrderPlaced", "PaymentReceived", "GoodsFetched", "GoodsShipped", "OrderDelivered"}

// pipelineBatch builds batch n of a staggered stream: each of the 200 slots
// carries step s of order (n-s)*200+slot, so a batch of 1,000 events
// touches 1,000 different orders and every order gets its 5 events in 5
// consecutive batches (≈1,000 active instances at any time).
func pipelineBatch(n int, buf []Message) []Message {
	buf = buf[:0]
	base := t0.Add(time.Duration(n) * time.Second)
	for slot := range 200 {
		for s, name := range orderSteps {
			order := (n-s)*200 + slot
			if order < 0 {
				continue
			}
			key := "order-" + strconv.Itoa(order)
			buf = append(buf, Message{
				Name: name, CorrelationKey: key, ID: key + "/" + name, EventTime: base, ReadAt: base,
				Variables: []byte(`{"amount":129.9,"items":3}`), BufferTTL: time.Hour,
				Position: Position{Topic: "orders", Partition: slot % 4, Offset: int64(n*1000 + slot*5 + s)},
			})
		}
	}
	return buf
}

func benchEngine(b *testing.B, noSync bool, cache, group int) *harness {
	h := &harness{t: b, dir: b.TempDir(), procs: &procs{}, clock: &testClock{now: t0}}
	h.procs.deploy(b, "order-fulfillment.bpmn")
	e, err := Open(Options{Dir: h.dir, Processes: h.procs, Clock: h.clock.Now, NoSync: noSync, CacheSize: cache, GroupCommit: group})
	if err != nil {
		b.Fatal(err)
	}
	h.e = e
	b.Cleanup(func() { e.Close() })
	return h
}

// BenchmarkApply measures in-process apply throughput on the shared example
// with batches of 1,000 events (run with -benchtime=5000x for 1M orders):
// Apply with and without fsync; pipelined (ApplyAsync: batch n+1 is
// correlated while batch n commits); and grouped, which is pipelined with
// group commit (Options.GroupCommit = benchGroup events per commit) and
// waits for a batch only once groupDepth newer ones are applied, as the
// Kafka consumer does.
func BenchmarkApply(b *testing.B) {
	for _, mode := range []string{"sync", "nosync", "pipelined", "grouped"} {
		b.Run(mode, func(b *testing.B) {
			group := 0
			if mode == "grouped" {
				group = benchGroup
			}
			h := benchEngine(b, mode == "nosync", 0, group)
			ctx := context.Background()
			check := func(out []Outcome, err error) {
				if err != nil {
					b.Fatal(err)
				}
				for _, o := range out {
					if o.Result != Started && o.Result != Correlated {
						b.Fatalf("unexpected outcome %+v", o)
					}
				}
			}
			depth := 0 // batches applied but not waited for
			switch mode {
			case "pipelined":
				depth = 1
			case "grouped":
				depth = groupDepth
			}
			w := &applyWindow{e: h.e, depth: depth, check: check}
			n, events := 0, 0
			b.ReportAllocs()
			start, cpu0 := time.Now(), cpuTime()
			for b.Loop() {
				buf := w.apply(ctx, pipelineBatch(n, w.buffer()))
				events += len(buf)
				n++
			}
			w.drain()
			b.ReportMetric(float64(events)/time.Since(start).Seconds(), "events/s")
			// CPU time of the whole process (compactions included) per event:
			// stable when other processes compete for the cores.
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(events), "cpu-µs/event")
			// bytes logged per event: what memtable inserts, flushes and
			// compactions have to carry, independent of machine load
			m := h.e.db.Metrics()
			b.ReportMetric(float64(m.WAL.BytesIn)/float64(events), "wal-B/event")
			// compaction work left when the run ends: Pebble options that only
			// defer compactions show up here, not in cpu-µs/event
			b.ReportMetric(float64(m.Compact.EstimatedDebt)/(1<<20), "debt-MiB")
		})
	}
}

const (
	benchGroup = 20_000 // events per commit in the grouped benchmarks
	groupDepth = 2 * benchGroup / 1000
)

// applyWindow applies batches with ApplyAsync and waits for the oldest once
// more than depth are pending (depth 0: Apply). It reuses the message
// buffers of batches it has waited for.
type applyWindow struct {
	e     *Engine
	depth int
	check func([]Outcome, error)
	queue []*Pending
	bufs  [][]Message // a ring of depth+1 batch buffers
	next  int
}

// buffer returns a batch buffer that no pending batch uses.
func (w *applyWindow) buffer() []Message {
	if w.bufs == nil {
		w.bufs = make([][]Message, w.depth+1)
	}
	return w.bufs[w.next][:0]
}

func (w *applyWindow) apply(ctx context.Context, batch []Message) []Message {
	w.bufs[w.next] = batch
	w.next = (w.next + 1) % len(w.bufs)
	if w.depth == 0 {
		w.check(w.e.Apply(ctx, batch))
		return batch
	}
	p, err := w.e.ApplyAsync(ctx, batch)
	if err != nil {
		w.check(nil, err)
	}
	w.queue = append(w.queue, p)
	for len(w.queue) > w.depth {
		w.check(w.queue[0].Wait())
		w.queue = w.queue[1:]
	}
	return batch
}

// drain waits for every pending batch.
func (w *applyWindow) drain() {
	for _, p := range w.queue {
		w.check(p.Wait())
	}
	w.queue = nil
}

// BenchmarkTimers measures firing due timers: b.N orders wait for payment,
// then one Tick 15 days later fires their delay timers.
func BenchmarkTimers(b *testing.B) {
	h := benchEngine(b, true, 0, 0)
	ctx := context.Background()
	n := b.N
	placeOrders(b, h.e, n)
	h.clock.now = t0.Add(15 * day24)
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	res, err := h.e.Tick(ctx, h.clock.now)
	if err != nil {
		b.Fatal(err)
	}
	el := time.Since(start)
	if res.Fired != n {
		b.Fatalf("fired %d timers, want %d", res.Fired, n)
	}
	b.ReportMetric(float64(n)/el.Seconds(), "timers/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(n), "cpu-µs/timer")
}

// placeOrders applies OrderPlaced at t0 for orders 0..n-1 in batches of
// 1,000: n instances that wait for payment, each with its delay and cancel
// timers armed.
func placeOrders(b *testing.B, e *Engine, n int) {
	batch := make([]Message, 0, 1000)
	for i := range n {
		key := "order-" + strconv.Itoa(i)
		batch = append(batch, Message{Name: "OrderPlaced", CorrelationKey: key, ID: key, EventTime: t0, ReadAt: t0})
		if len(batch) == cap(batch) || i == n-1 {
			if _, err := e.Apply(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}

// BenchmarkTickAfterFiring measures a Tick with nothing due right after
// 200,000 timers fired and were deleted: the scans start at the ranges'
// floors instead of stepping over the deleted keys.
func BenchmarkTickAfterFiring(b *testing.B) {
	h := benchEngine(b, true, 0, 0)
	ctx := context.Background()
	const n = 200_000
	placeOrders(b, h.e, n)
	h.clock.now = t0.Add(15 * day24)
	if res, err := h.e.Tick(ctx, h.clock.now); err != nil || res.Fired != n {
		b.Fatalf("fired %d timers (%v), want %d", res.Fired, err, n)
	}
	b.ResetTimer()
	for b.Loop() {
		h.clock.now = h.clock.now.Add(time.Second)
		res, err := h.e.Tick(ctx, h.clock.now)
		if err != nil || res.Fired != 0 {
			b.Fatalf("tick: fired %d (%v), want 0", res.Fired, err)
		}
	}
}

// BenchmarkActiveInstances starts b.N instances that stay active with a
// small cache and reports the peak RSS: state lives on disk, memory is
// bounded by the cache and the Bloom filters (≈1.25 bytes per key).
func BenchmarkActiveInstances(b *testing.B) {
	h := benchEngine(b, true, 100_000, 0)
	ctx := context.Background()
	batch := make([]Message, 0, 1000)
	b.ReportAllocs()
	start := time.Now()
	i := 0
	for b.Loop() {
		key := "order-" + strconv.Itoa(i)
		batch = append(batch, Message{Name: "OrderPlaced", CorrelationKey: key, ID: key, EventTime: t0, ReadAt: t0})
		if len(batch) == cap(batch) {
			if _, err := h.e.Apply(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
		i++
	}
	b.ReportMetric(float64(i)/time.Since(start).Seconds(), "events/s")
	b.ReportMetric(float64(peakRSS())/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(h.e.BloomBytes())/(1<<20), "bloom-MiB")
	b.ReportMetric(float64(h.e.CacheLen()), "cached-groups")
}

// cpuTime is the user+system CPU time of this process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSS reads VmHWM from /proc (Linux); 0 elsewhere.
func peakRSS() int64 {
	if runtime.GOOS != "linux" {
		return 0
	}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range splitLines(string(b)) {
		if len(line) > 6 && line[:6] == "VmHWM:" {
			f := 0
			for _, c := range line[6:] {
				if c >= '0' && c <= '9' {
					f = f*10 + int(c-'0')
				}
			}
			return int64(f) << 10
		}
	}
	return 0
}

func splitLines(s string) []string {
	var out []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		out = append(out, s[:i])
		if i < len(s) {
			i++
		}
		s = s[i:]
	}
	return out
}
