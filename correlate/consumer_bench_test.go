package correlate

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/tracker-dev/tracker/config"
	"github.com/tracker-dev/tracker/engine"
)

// BenchmarkConsume measures the consumer alone (group join, fetch, decode,
// batching, commits) over a kfake broker, with an engine that applies
// nothing, from the first applied batch on. `tracker bench ingest` measures the whole tracker.
func BenchmarkConsume(b *testing.B) {
	const records = 50_000
	_, addr := newCluster(b, kfake.SeedTopics(4, "orders"))
	produce(b, addr, orderTraffic("orders", records/2, 0)...)
	b.ReportAllocs()
	var total time.Duration
	group := 0
	for b.Loop() {
		group++
		var applied atomic.Int64
		var first atomic.Int64 // when the first batch was applied: joining the group is not measured
		done := make(chan struct{})
		c, err := New(Options{Engine: nopEngine{}, Kafka: kafkaCfg(addr, fmt.Sprintf("bench-%d", group)),
			Sources: []config.Source{exampleConfigSource("orders")},
			OnApplied: func(batch []engine.Message, _ []engine.Outcome) {
				first.CompareAndSwap(0, time.Now().UnixNano())
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
		cancel()
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(records)*float64(group)/total.Seconds(), "records/s")
}
