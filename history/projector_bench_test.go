package history_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tracker-dev/tracker/engine"
	"github.com/tracker-dev/tracker/history"
)

// synthFeed is an endless change feed shaped like the engine's for a
// four-step process: ten changes per order; even orders complete.
type synthFeed struct{ notify chan struct{} }

func (f *synthFeed) FeedNotify() <-chan struct{} { return f.notify }

func (f *synthFeed) Feed(from uint64, max int) ([]engine.Change, error) {
	out := make([]engine.Change, 0, max)
	for s := from; len(out) < max; s++ {
		out = append(out, synthChange(s))
	}
	return out, nil
}

func synthChange(seq uint64) engine.Change {
	i := int64((seq - 1) / 10)
	step := (seq - 1) % 10
	at := t0.Add(time.Duration(i) * time.Second).Add(time.Duration(step) * time.Minute)
	c := engine.Change{Seq: seq, Time: at, WallTime: at, InstanceKey: i*10 + 1, ProcessID: "order", Version: 1}
	ck := fmt.Sprintf("ORD-%d", i)
	el := func(kind engine.ChangeKind, id string, k int64) {
		c.Kind, c.ElementID = kind, id
		c.Payload = fmt.Appendf(nil, `{"elementKey":%d,"scopeKey":0,"kind":"intermediateCatchEvent"}`, i*10+k)
	}
	msg := func(name, outcome string, n int) {
		c.Kind = engine.ChangeMessage
		c.Payload = fmt.Appendf(nil, `{"messageId":"m-%d-%d","name":%q,"correlationKey":%q,"source":"orders","outcome":%q,"eventTime":%q,"topic":"orders","partition":%d,"offset":%d,"variables":{"orderId":%q,"amount":%d,"note":"synthetic order %d"}}`,
			i, n, name, ck, outcome, at.Format(time.RFC3339Nano), i%8, i, ck, i%1000, i)
	}
	switch step {
	case 0:
		c.Kind, c.ElementID = engine.ChangeInstanceStarted, "Start"
		c.Payload = fmt.Appendf(nil, `{"correlationKey":%q}`, ck)
	case 1:
		el(engine.ChangeElementStarted, "Start", 2)
	case 2:
		el(engine.ChangeElementCompleted, "Start", 2)
	case 3:
		el(engine.ChangeElementStarted, "Paid", 3)
	case 4:
		c.Kind = engine.ChangeVariables
		c.Payload = fmt.Appendf(nil, `{"orderId":%q,"customer":"c-%d"}`, ck, i%97)
	case 5:
		msg("OrderPlaced", "started", 0)
	case 6:
		el(engine.ChangeElementCompleted, "Paid", 3)
	case 7:
		el(engine.ChangeElementStarted, "Shipped", 4)
	case 8:
		msg("PaymentReceived", "correlated", 1)
	case 9:
		if i%2 == 0 {
			el(engine.ChangeElementCompleted, "Shipped", 4)
		} else {
			c.Kind = engine.ChangeVariables
			c.Payload = []byte(`{"late":true}`)
		}
	}
	return c
}

// BenchmarkProjectorIngest measures projecting feed changes into the
// embedded backend (decode, fold into documents, one SQLite transaction per
// batch of 2,000 changes, FTS included).
func BenchmarkProjectorIngest(b *testing.B) {
	store := openStore(b, b.TempDir())
	defer store.Close()
	p := newProjector(b, &synthFeed{notify: make(chan struct{})}, store, history.ProjectorOptions{BatchSize: 2000})
	ctx := context.Background()
	b.ReportAllocs()
	var changes int
	start, cpu0 := time.Now(), cpuTime()
	for b.Loop() {
		n, err := p.Step(ctx)
		if err != nil {
			b.Fatal(err)
		}
		changes += n
	}
	b.ReportMetric(float64(changes)/time.Since(start).Seconds(), "changes/s")
	b.ReportMetric(float64(changes)/(cpuTime()-cpu0).Seconds(), "changes/cpu-s")
}

// cpuTime is the CPU time (user + system) of this process so far: on a
// shared machine changes per CPU-second is steadier than per wall second.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// liveFeed is synthFeed growing in real time: changes up to avail exist.
type liveFeed struct {
	mu     sync.Mutex
	avail  uint64
	notify chan struct{}
}

func (f *liveFeed) FeedNotify() <-chan struct{} { return f.notify }

func (f *liveFeed) Feed(from uint64, max int) ([]engine.Change, error) {
	f.mu.Lock()
	avail := f.avail
	f.mu.Unlock()
	var out []engine.Change
	for s := from; s <= avail && len(out) < max; s++ {
		out = append(out, synthChange(s))
	}
	return out, nil
}

func (f *liveFeed) append(n uint64) uint64 {
	f.mu.Lock()
	f.avail += n
	a := f.avail
	f.mu.Unlock()
	select {
	case f.notify <- struct{}{}:
	default:
	}
	return a
}

// appliedAt records when each Apply finished.
type appliedAt struct {
	history.Backend
	mu   sync.Mutex
	upTo []uint64
	at   []time.Time
}

func (a *appliedAt) Apply(ctx context.Context, b *history.Batch) error {
	if err := a.Backend.Apply(ctx, b); err != nil {
		return err
	}
	a.mu.Lock()
	a.upTo = append(a.upTo, b.Checkpoint)
	a.at = append(a.at, time.Now())
	a.mu.Unlock()
	return nil
}

// BenchmarkSearchableLatency feeds changes at TRACKER_BENCH_RATE events/s
// (default 10,000; five feed changes per event, as the engine writes about
// that many per message) for two seconds per iteration while the projector
// runs, and reports the p50/p99 time from a change entering the feed to the
// commit that makes it searchable. Run it with -benchtime 1x.
func BenchmarkSearchableLatency(b *testing.B) {
	rate := 10_000
	if v := os.Getenv("TRACKER_BENCH_RATE"); v != "" {
		var err error
		if rate, err = strconv.Atoi(v); err != nil || rate <= 0 {
			b.Fatalf("TRACKER_BENCH_RATE=%q: want a positive integer", v)
		}
	}
	const changesPerEvent, tick, window = 5, 10 * time.Millisecond, 2 * time.Second
	store := openStore(b, b.TempDir())
	defer store.Close()
	rec := &appliedAt{Backend: store}
	feed := &liveFeed{notify: make(chan struct{}, 1)}
	p := newProjector(b, feed, rec, history.ProjectorOptions{PollInterval: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var lat []time.Duration
	perTick := uint64(rate * changesPerEvent * int(tick) / int(time.Second))
	for b.Loop() {
		type mark struct {
			upTo uint64
			at   time.Time
		}
		var marks []mark
		t := time.NewTicker(tick)
		end := time.Now().Add(window)
		for now := range t.C {
			marks = append(marks, mark{feed.append(perTick), now})
			if now.After(end) {
				break
			}
		}
		t.Stop()
		last := marks[len(marks)-1].upTo
		for {
			rec.mu.Lock()
			caught := len(rec.upTo) > 0 && rec.upTo[len(rec.upTo)-1] >= last
			rec.mu.Unlock()
			if caught {
				break
			}
			time.Sleep(tick)
		}
		rec.mu.Lock()
		j := 0
		for _, m := range marks {
			for rec.upTo[j] < m.upTo {
				j++
			}
			lat = append(lat, rec.at[j].Sub(m.at))
		}
		rec.mu.Unlock()
	}
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	slices.Sort(lat)
	pct := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))]) / float64(time.Millisecond) }
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(rate), "events/s")
}

// BenchmarkProjectorEngineFeed projects the real engine's feed for 3,000
// orders of the shared example (about 9,000 messages) into a fresh store per
// iteration and reports consumed messages made searchable per second.
func BenchmarkProjectorEngineFeed(b *testing.B) {
	w := newWorld(b)
	msgs := traffic(0, 3000)
	w.apply(msgs)
	head := w.head()
	var elapsed, cpu time.Duration
	iters := 0
	for b.Loop() {
		store := openStore(b, b.TempDir())
		p := newProjector(b, w.e, store, history.ProjectorOptions{})
		start, cpu0 := time.Now(), cpuTime()
		if err := p.Sync(context.Background()); err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(start)
		cpu += cpuTime() - cpu0
		iters++
		if st := p.Status(); st.Checkpoint != head {
			b.Fatalf("checkpoint %d, head %d", st.Checkpoint, head)
		}
		store.Close()
	}
	n := float64(len(msgs) * iters)
	b.ReportMetric(n/elapsed.Seconds(), "messages/s")
	b.ReportMetric(n/cpu.Seconds(), "messages/cpu-s")
	b.ReportMetric(float64(head)*float64(iters)/elapsed.Seconds(), "changes/s")
}
