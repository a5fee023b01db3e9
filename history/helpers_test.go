package history_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tracker-dev/tracker/engine"
	"github.com/tracker-dev/tracker/history"
	"github.com/tracker-dev/tracker/history/sqlite"
	"github.com/tracker-dev/tracker/models"
)

// t0 is when the simulated traffic starts.
var t0 = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)

// world is a real engine with the shared example model deployed.
type world struct {
	t    testing.TB
	repo *models.Repository
	e    *engine.Engine
	now  time.Time
}

func newWorld(t testing.TB) *world {
	t.Helper()
	dir := t.TempDir()
	repo, err := models.OpenRepository(filepath.Join(dir, "models"), models.RepositoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	xml, err := os.ReadFile(filepath.Join("testdata", "order-fulfillment.bpmn"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, problems, err := repo.Deploy(context.Background(), "order-fulfillment.bpmn", xml); err != nil {
		t.Fatalf("deploy: %v %v", err, problems)
	}
	w := &world{t: t, repo: repo, now: t0}
	w.e, err = engine.Open(engine.Options{Dir: filepath.Join(dir, "engine"), Processes: repo, NoSync: true, Clock: func() time.Time { return w.now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.e.Close() })
	return w
}

// steps of the order-fulfillment model, in order.
var steps = []string{"OrderPlaced", "PaymentReceived", "GoodsFetched", "GoodsShipped", "OrderDelivered"}

// traffic returns the messages of orders from..to-1: order i goes through
// 1 + i%5 steps (so i%5 == 2 waits at GoodsShipped, i%5 == 4 completes), step
// s happening s hours after the order; every 7th order's OrderPlaced is
// delivered twice; every 13th order also gets a message no model knows.
func traffic(from, to int) []engine.Message {
	var out []engine.Message
	for i := from; i < to; i++ {
		ck := fmt.Sprintf("ORD-%d", 1000+i)
		start := t0.Add(time.Duration(i) * time.Minute)
		for s := 0; s <= i%5; s++ {
			vars := fmt.Sprintf(`{"step%d":%d}`, s, i)
			if s == 0 {
				vars = fmt.Sprintf(`{"orderId":%q,"customer":"c-%d","total":%d.5}`, ck, i%7, i)
			}
			m := engine.Message{
				Name: steps[s], CorrelationKey: ck, ID: fmt.Sprintf("m-%d-%d", i, s), Source: "orders",
				EventTime: start.Add(time.Duration(s) * time.Hour), Variables: json.RawMessage(vars),
				Position: engine.Position{Topic: "orders", Partition: i % 3, Offset: int64(i*10 + s)},
			}
			m.ReadAt = m.EventTime
			out = append(out, m)
			if s == 0 && i%7 == 0 {
				out = append(out, m)
			}
		}
		if i%13 == 0 {
			out = append(out, engine.Message{Name: "Unknown", CorrelationKey: ck, ID: fmt.Sprintf("u-%d", i), Source: "orders",
				EventTime: start, ReadAt: start, Variables: json.RawMessage(`{"stray":"parcel"}`)})
		}
	}
	return out
}

func (w *world) apply(msgs []engine.Message) []engine.Outcome {
	w.t.Helper()
	var outs []engine.Outcome
	for len(msgs) > 0 {
		n := min(len(msgs), 100)
		o, err := w.e.Apply(context.Background(), msgs[:n])
		if err != nil {
			w.t.Fatalf("engine apply: %v", err)
		}
		outs = append(outs, o...)
		msgs = msgs[n:]
	}
	return outs
}

// head is the last sequence number of the engine's feed.
func (w *world) head() uint64 {
	w.t.Helper()
	var last uint64
	for {
		ch, err := w.e.Feed(last+1, 10000)
		if err != nil {
			w.t.Fatal(err)
		}
		if len(ch) == 0 {
			return last
		}
		last = ch[len(ch)-1].Seq
	}
}

func openStore(t testing.TB, dir string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(sqlite.Options{Dir: dir, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newProjector(t testing.TB, feed history.Feed, b history.Backend, opts history.ProjectorOptions) *history.Projector {
	t.Helper()
	opts.Feed, opts.Backend = feed, b
	p, err := history.NewProjector(opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// dump renders everything a backend holds, in a stable order, as JSON.
func dump(t testing.TB, b history.Backend) string {
	t.Helper()
	ctx := context.Background()
	out := map[string]any{}
	var insts []history.Instance
	q := history.InstanceQuery{Sort: history.SortKeyAsc, Limit: history.MaxLimit}
	for {
		p, err := b.Instances(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		insts = append(insts, p.Items...)
		if q.Cursor = p.Next; q.Cursor == "" {
			break
		}
	}
	out["instances"] = insts
	els := map[string][]history.ElementInstance{}
	for _, in := range insts {
		e, err := b.ElementInstances(ctx, in.Key)
		if err != nil {
			t.Fatal(err)
		}
		els[fmt.Sprint(in.Key)] = e
	}
	out["elements"] = els
	var evs []history.Event
	eq := history.EventQuery{Sort: history.SortTimeAsc, Limit: history.MaxLimit}
	for {
		p, err := b.Events(ctx, eq)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, p.Items...)
		if eq.Cursor = p.Next; eq.Cursor == "" {
			break
		}
	}
	out["events"] = evs
	inc, err := b.Incidents(ctx, history.IncidentQuery{Limit: history.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	out["incidents"] = inc.Items
	acts, err := b.Actions(ctx, history.ActionQuery{Limit: history.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	out["actions"] = acts.Items
	st, err := b.Statistics(ctx, history.StatisticsQuery{ProcessID: "order-fulfillment"})
	if err != nil {
		t.Fatal(err)
	}
	out["statistics"] = st
	cp, err := b.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out["checkpoint"] = cp
	j, err := json.MarshalIndent(out, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(j)
}

// flaky wraps a backend: it fails the next `fail` Apply calls, can lose
// checkpoints (as a non-transactional backend might after a crash), and
// reports every successful Apply on applied.
type flaky struct {
	history.Backend
	mu        sync.Mutex
	fail      int
	staleFrom uint64 // if set, Checkpoint reports at most this
	applied   chan uint64
}

func (f *flaky) Apply(ctx context.Context, b *history.Batch) error {
	f.mu.Lock()
	if f.fail > 0 {
		f.fail--
		f.mu.Unlock()
		return fmt.Errorf("backend unavailable (simulated)")
	}
	f.mu.Unlock()
	if err := f.Backend.Apply(ctx, b); err != nil {
		return err
	}
	if f.applied != nil {
		f.applied <- b.Checkpoint
	}
	return nil
}

func (f *flaky) Checkpoint(ctx context.Context) (uint64, error) {
	cp, err := f.Backend.Checkpoint(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.staleFrom > 0 && cp > f.staleFrom {
		cp = f.staleFrom
	}
	return cp, err
}

// runUntil runs p until the backend reports checkpoint head, then stops it.
func runUntil(t testing.TB, p *history.Projector, applied chan uint64, head uint64) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	for cp := range applied {
		if cp >= head {
			break
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("projector Run: %v", err)
	}
}
