package sqlite_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/tracker-dev/tracker/history"
	"github.com/tracker-dev/tracker/history/historytest"
	"github.com/tracker-dev/tracker/history/sqlite"
)

func benchStore(b *testing.B) *sqlite.Store {
	b.Helper()
	s, err := sqlite.Open(sqlite.Options{Dir: b.TempDir(), NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// ingestBatch returns a batch for orders [from, from+n): per order one
// instance, two element instances and two events (five documents).
func ingestBatch(from, n int) *history.Batch {
	b := &history.Batch{Checkpoint: uint64(from + n)}
	for i := from; i < from+n; i++ {
		k := int64(i)*10 + 1
		start := historytest.T0.Add(time.Duration(i) * time.Second)
		ck := fmt.Sprintf("ORD-%d", i)
		in := historytest.Inst(k, "order", 1, ck, start, fmt.Sprintf(`{"orderId":%q,"customer":"c-%d","total":%d}`, ck, i%97, i%1000),
			history.ActiveElement{ElementID: "Shipped", ElementKey: k + 2, Since: start.Add(time.Hour)})
		b.Instances = append(b.Instances, in)
		b.Elements = append(b.Elements,
			historytest.Elem(k+1, k, "order", 1, "Paid", history.ElementCompleted, start, start.Add(time.Hour)),
			historytest.Elem(k+2, k, "order", 1, "Shipped", history.ElementActive, start.Add(time.Hour), time.Time{}))
		b.Events = append(b.Events,
			historytest.Ev(fmt.Sprintf("m-%d-0", i), "OrderPlaced", ck, "started", k, start, fmt.Sprintf(`{"orderId":%q,"note":"synthetic order %d"}`, ck, i)),
			historytest.Ev(fmt.Sprintf("m-%d-1", i), "PaymentReceived", ck, "correlated", k, start.Add(time.Hour), fmt.Sprintf(`{"orderId":%q,"amount":%d}`, ck, i%1000)))
	}
	return b
}

// BenchmarkApply measures Backend.Apply of new documents in batches of
// 2,000 (400 orders × 5 documents).
func BenchmarkApply(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	const orders = 400
	b.ReportAllocs()
	docs, next := 0, 0
	start, cpu0 := time.Now(), cpuTime()
	for b.Loop() {
		batch := ingestBatch(next, orders)
		next += orders
		if err := s.Apply(ctx, batch); err != nil {
			b.Fatal(err)
		}
		docs += batch.Len()
	}
	b.ReportMetric(float64(docs)/time.Since(start).Seconds(), "records/s")
	b.ReportMetric(float64(docs)/(cpuTime()-cpu0).Seconds(), "records/cpu-s")
}

// cpuTime is the CPU time (user + system) of this process so far: on a
// shared machine records per CPU-second is steadier than per wall second.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
