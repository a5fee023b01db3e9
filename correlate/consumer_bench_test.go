package correlate

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/tracker-dev/tracker/config"
	"github.com/tracker-dev/tracker/engine"
)

// BenchmarkConsume measures the consumer alone (group join, fetch, decode,
// batching, commits) over a kfake broker, with an engine that applies
// nothing, from the first applied batch on. `tracker bench ingest` measures
// the whole tracker.
func BenchmarkConsume(b *testing.B) {
	runConsumeBench(b, func() Engine { return nopEngine{} }, 100)
}

// BenchmarkConsumeBusyEngine measures what the consumer adds around an
// engine that takes time: Apply spends 10 µs of CPU per message and waits
// 2 ms per batch (like an fsync). engine-busy is the share of the run the
// engine spent in Apply; 1 means the consumer never made it wait.
func BenchmarkConsumeBusyEngine(b *testing.B) {
	for _, size := range []int{1000, 4000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			busy, elapsed := runConsumeBench(b, func() Engine {
				return &busyEngine{perMsg: 10 * time.Microsecond, perBatch: 2 * time.Millisecond}
			}, size)
			b.ReportMetric(busy.Seconds()/elapsed.Seconds(), "engine-busy")
		})
	}
}

// runConsumeBench consumes benchRecords records per iteration with a new
// group and a fresh engine; it reports records/s and CPU µs per record, and
// returns the engine's time in Apply (for a *busyEngine) and the time
// measured.
func runConsumeBench(b *testing.B, newEngine func() Engine, batchSize int) (busy, total time.Duration) {
	const records = 50_000
	_, addr := newCluster(b, kfake.SeedTopics(4, "orders"))
	produce(b, addr, orderTraffic("orders", records/2, 0)...)
	b.ReportAllocs()
	group := 0
	var cpu time.Duration
	for b.Loop() {
		group++
		var applied atomic.Int64
		var first atomic.Int64 // when the first batch was applied: joining the group is not measured
		var cpuFirst, busyFirst atomic.Int64
		done := make(chan struct{})
		eng := newEngine()
		be, _ := eng.(*busyEngine)
		cfg := kafkaCfg(addr, fmt.Sprintf("bench-%d", group))
		cfg.BatchSize = batchSize
		c, err := New(Options{Engine: eng, Kafka: cfg,
			Sources: []config.Source{exampleConfigSource("orders")},
			OnApplied: func(batch []engine.Message, _ []engine.Outcome) {
				if first.CompareAndSwap(0, time.Now().UnixNano()) {
					cpuFirst.Store(int64(cpuTime()))
					if be != nil {
						busyFirst.Store(be.busy.Load())
					}
				}
				if applied.Add(int64(len(batch))) == records {
					close(done)
				}
			}})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- c.Run(ctx) }()
		select {
		case <-done:
		case err := <-errc:
			b.Fatalf("Run: %v", err)
		}
		total += time.Since(time.Unix(0, first.Load()))
		cpu += cpuTime() - time.Duration(cpuFirst.Load())
		cancel()
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
		if be != nil {
			busy += time.Duration(be.busy.Load() - busyFirst.Load())
		}
	}
	b.ReportMetric(float64(records)*float64(group)/total.Seconds(), "records/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(records*group), "cpu-µs/record")
	return busy, total
}

// busyEngine applies nothing but takes perMsg of CPU per message and sleeps
// perBatch per batch.
type busyEngine struct {
	nopEngine
	perMsg, perBatch time.Duration
	busy             atomic.Int64 // ns spent in Apply
}

func (e *busyEngine) Apply(_ context.Context, batch []engine.Message) ([]engine.Outcome, error) {
	began := time.Now()
	for until := began.Add(time.Duration(len(batch)) * e.perMsg); time.Now().Before(until); {
	}
	time.Sleep(e.perBatch)
	e.busy.Add(int64(time.Since(began)))
	return make([]engine.Outcome, len(batch)), nil
}

// cpuTime is the CPU time (user and system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
