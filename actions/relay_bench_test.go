package actions

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tracker-dev/tracker/config"
	"github.com/tracker-dev/tracker/engine"
)

// BenchmarkRelayThroughput measures actions delivered per second to the
// embedded broker over TCP (acks=all), from an in-memory outbox (the relay
// and Kafka alone) and from the engine's Pebble outbox (including the
// synchronous delivered marks, without fsync).
func BenchmarkRelayThroughput(b *testing.B) {
	const perLoop = 20_000
	b.Run("memory-outbox", func(b *testing.B) {
		br := startBroker(b, "commands")
		ob := newMemOutbox()
		r, err := New(Options{Outbox: ob, Kafka: config.Kafka{Brokers: []string{br.Addr()}}, PollInterval: 10 * time.Millisecond})
		if err != nil {
			b.Fatal(err)
		}
		stop := runInBackground(b, r)
		defer stop()
		b.ReportAllocs()
		var n int
		start, cpu0 := time.Now(), processCPU()
		for b.Loop() {
			ob.add("commands", "SendDelayNoticeCommand", perLoop)
			n += perLoop
			waitFor(b, "the outbox to drain", func() bool { return ob.pending() == 0 })
		}
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "actions/s")
		reportCPU(b, processCPU()-cpu0, n)
	})
	b.Run("engine-outbox", func(b *testing.B) {
		br := startBroker(b, "commands")
		w := newWorld(b, b.TempDir(), "order-fulfillment.bpmn")
		b.ReportAllocs()
		var n int
		var busy, cpu time.Duration
		round := 0
		for b.Loop() {
			b.StopTimer()
			round++
			batch := make([]event, 0, perLoop)
			for i := range perLoop {
				batch = append(batch, event{"OrderPlaced", fmt.Sprintf("B%d-%d", round, i), 15 * day, orderVars})
			}
			for i := 0; i < len(batch); i += 2000 {
				w.apply(batch[i:min(i+2000, len(batch))]...)
			}
			w.tick(now)
			want := int64(len(w.pending())) // every order raised its delay notice; counted outside the timing
			settle()
			b.StartTimer()
			start, cpu0 := time.Now(), processCPU()
			w.runRelayN(Options{Kafka: config.Kafka{Brokers: []string{br.Addr()}}}, want)
			busy += time.Since(start)
			cpu += processCPU() - cpu0
			n += perLoop
		}
		b.ReportMetric(float64(n)/busy.Seconds(), "actions/s")
		reportCPU(b, cpu, n)
	})
}

// BenchmarkTimerToDelivered measures the latency from a Tick that fires a
// timer to the action being acknowledged by the broker and marked delivered.
func BenchmarkTimerToDelivered(b *testing.B) {
	br := startBroker(b, "commands")
	w := newWorld(b, b.TempDir(), "order-fulfillment.bpmn")
	r, err := New(Options{Outbox: w.eng, Kafka: config.Kafka{Brokers: []string{br.Addr()}}})
	if err != nil {
		b.Fatal(err)
	}
	stop := runInBackground(b, r)
	defer stop()
	b.ReportAllocs()
	i := 0
	var total time.Duration
	for b.Loop() {
		i++
		b.StopTimer()
		w.apply(event{"OrderPlaced", fmt.Sprintf("L-%d", i), 15 * day, orderVars})
		b.StartTimer()
		start := time.Now()
		w.tick(now)
		for {
			as, err := w.eng.PendingActions(0, 1)
			if err != nil {
				b.Fatal(err)
			}
			if len(as) == 0 {
				break
			}
			time.Sleep(50 * time.Microsecond)
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(i)/1000, "ms/delivery")
}

// settle waits (at most 10 s) until the process is quiet: the engine's
// background flushes and compactions of the orders just applied are its
// ingestion cost, not the relay's, and would otherwise land in the timing.
func settle() {
	const quiet = 10 * time.Millisecond // CPU per 100 ms below which the process counts as idle
	prev := processCPU()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		cur := processCPU()
		if cur-prev < quiet {
			return
		}
		prev = cur
	}
}

// reportCPU reports the process CPU time per action (all goroutines: relay,
// kafka-go, the embedded broker, the engine's reads and marks, GC). Unlike
// actions/s it hardly depends on what else the machine is doing: at
// 40 µs/action two idle cores can deliver at most 50,000 actions/s.
func reportCPU(b *testing.B, cpu time.Duration, n int) {
	if cpu > 0 && n > 0 {
		b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-µs/action")
	}
}

// runInBackground runs r until the returned stop is called; stop reports
// an error Run returned.
func runInBackground(tb testing.TB, r *Relay) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			tb.Error(err)
		}
	}
}

var _ = engine.ActionDelivered
