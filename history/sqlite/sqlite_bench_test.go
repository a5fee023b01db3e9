package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
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

// BenchmarkScale measures the stuck listing and the statistics call over a
// store of many instances: TRACKER_BENCH_INSTANCES (default 100,000; the
// issue's 1,000,000 takes minutes to build on a shared 2-core machine). Each
// instance has a completed "Paid" visit; 70 % wait at "Shipped" or
// "Delivered", the rest completed.
func BenchmarkScale(b *testing.B) {
	n := 100_000
	if v := os.Getenv("TRACKER_BENCH_INSTANCES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("TRACKER_BENCH_INSTANCES=%q: want a positive integer", v)
		}
	}
	s := benchStore(b)
	ctx := context.Background()
	t0 := historytest.T0
	built := time.Now()
	const chunk = 5000
	for from := 0; from < n; from += chunk {
		batch := &history.Batch{Checkpoint: uint64(from + chunk)}
		for i := from; i < min(n, from+chunk); i++ {
			k := int64(i)*10 + 1
			start := t0.Add(time.Duration(i) * 10 * time.Second)
			paid := start.Add(time.Duration(1+i%600) * time.Minute)
			in := historytest.Inst(k, "order", 1+i%2, fmt.Sprintf("ORD-%d", i), start, fmt.Sprintf(`{"customer":"c-%d"}`, i%97))
			batch.Elements = append(batch.Elements, historytest.Elem(k+1, k, "order", in.Version, "Paid", history.ElementCompleted, start, paid))
			switch i % 10 {
			case 0, 1, 2:
				in.State, in.EndedAt = history.StateCompleted, paid.Add(time.Hour)
				batch.Elements = append(batch.Elements, historytest.Elem(k+2, k, "order", in.Version, "Shipped", history.ElementCompleted, paid, paid.Add(time.Hour)))
			default:
				el := "Shipped"
				if i%10 >= 7 {
					el = "Delivered"
				}
				in.ActiveElements = []history.ActiveElement{{ElementID: el, ElementKey: k + 2, Since: paid}}
				batch.Elements = append(batch.Elements, historytest.Elem(k+2, k, "order", in.Version, el, history.ElementActive, paid, time.Time{}))
			}
			batch.Instances = append(batch.Instances, in)
		}
		if err := s.Apply(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("built %d instances (%d documents) in %s", n, 3*n, time.Since(built).Round(time.Millisecond))
	// Half of the instances waiting at Shipped are stuck.
	mid := t0.Add(time.Duration(n/2) * 10 * time.Second)
	rules := []history.StuckRule{
		{ProcessID: "order", ElementID: "Shipped", Before: mid},
		{ProcessID: "order", ElementID: "Delivered", Before: mid},
	}
	b.Run("stuck", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p, err := s.Instances(ctx, history.InstanceQuery{ProcessID: "order", Element: "Shipped", Stuck: rules[:1], Limit: 50})
			if err != nil || len(p.Items) != 50 {
				b.Fatalf("stuck page: %d items, %v", len(p.Items), err)
			}
		}
	})
	b.Run("stuck-any-element", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p, err := s.Instances(ctx, history.InstanceQuery{Stuck: rules, Limit: 50})
			if err != nil || len(p.Items) != 50 {
				b.Fatalf("stuck page: %d items, %v", len(p.Items), err)
			}
		}
	})
	b.Run("statistics", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			st, err := s.Statistics(ctx, history.StatisticsQuery{ProcessID: "order", Stuck: rules})
			if err != nil || len(st.Elements) != 3 {
				b.Fatalf("statistics: %+v, %v", st, err)
			}
		}
	})
	b.Run("search", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p, err := s.Instances(ctx, history.InstanceQuery{Q: fmt.Sprintf("ORD-%d", n/3), Limit: 50})
			if err != nil || len(p.Items) != 1 {
				b.Fatalf("search: %d items, %v", len(p.Items), err)
			}
		}
	})
}
