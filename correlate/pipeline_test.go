package correlate

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/tracker-dev/tracker/config"
	"github.com/tracker-dev/tracker/engine"
)

// gatedAsync is an engine whose commits land only when the test says so:
// ApplyAsync records the batch and returns a wait that blocks until the test
// releases the batch, with nil (landed) or an error (the commit failed).
type gatedAsync struct {
	nopEngine
	mu      sync.Mutex
	started [][]int64            // offsets of each batch given to ApplyAsync, in order
	release map[int64]chan error // by the batch's first offset
}

func (g *gatedAsync) Apply(context.Context, []engine.Message) ([]engine.Outcome, error) {
	return nil, errors.New("Apply called although ApplyAsync is set")
}

func (g *gatedAsync) gate(first int64) chan error {
	g.mu.Lock()
	defer g.mu.Unlock()
	ch := g.release[first]
	if ch == nil {
		ch = make(chan error, 1)
		g.release[first] = ch
	}
	return ch
}

// gatedPending is a batch of gatedAsync; its Done is unknown (nil).
type gatedPending func() ([]engine.Outcome, error)

func (p gatedPending) Wait() ([]engine.Outcome, error) { return p() }
func (gatedPending) Done() <-chan struct{}             { return nil }

func (g *gatedAsync) ApplyAsync(_ context.Context, batch []engine.Message) (Pending, error) {
	offs := make([]int64, len(batch))
	for i := range batch {
		offs[i] = batch[i].Position.Offset
	}
	g.mu.Lock()
	g.started = append(g.started, offs)
	g.mu.Unlock()
	gate := g.gate(offs[0])
	n := len(batch)
	return gatedPending(func() ([]engine.Outcome, error) {
		if err := <-gate; err != nil {
			return nil, err
		}
		return make([]engine.Outcome, n), nil
	}), nil
}

func (g *gatedAsync) startedBatches() [][]int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.started)
}

// TestAsyncApplyActsOnDurableBatches checks the applier with an engine that
// commits asynchronously: nothing of a batch is acted on (OnApplied, the
// group's committed offset) before its commit lands, batches land in the
// order they were applied, and a failed commit stops the consumer with the
// error while the batches before it stay applied.
func TestAsyncApplyActsOnDurableBatches(t *testing.T) {
	_, addr := newCluster(t, kfake.SeedTopics(1, "orders"))
	produce(t, addr, orderTraffic("orders", 3, 0)...) // offsets 0..5
	boom := errors.New("disk full")
	eng := &gatedAsync{release: map[int64]chan error{}}
	cfg := kafkaCfg(addr, "async")
	cfg.BatchSize = 1
	var mu sync.Mutex
	var landed []int64
	c, err := New(Options{Engine: eng, ApplyAsync: eng.ApplyAsync, Kafka: cfg, Sources: []config.Source{exampleConfigSource("orders")},
		CommitInterval: time.Millisecond,
		OnApplied: func(batch []engine.Message, _ []engine.Outcome) {
			mu.Lock()
			defer mu.Unlock()
			for _, m := range batch {
				landed = append(landed, m.Position.Offset)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	landedNow := func() []int64 { mu.Lock(); defer mu.Unlock(); return slices.Clone(landed) }

	waitFor(t, "the first batch given to the engine", func() bool { return len(eng.startedBatches()) >= 1 })
	if got := landedNow(); len(got) != 0 {
		t.Fatalf("OnApplied saw %v before any commit landed", got)
	}
	if off := committed(t, addr, "async"); off > 0 {
		t.Fatalf("group committed offset %d before any commit landed", off)
	}
	eng.gate(0) <- nil
	eng.gate(1) <- nil
	waitFor(t, "offsets 0 and 1 landed", func() bool { return len(landedNow()) >= 2 })
	waitFor(t, "offset 2 given to the engine", func() bool { return len(eng.startedBatches()) >= 3 })
	if got := landedNow(); !slices.Equal(got, []int64{0, 1}) {
		t.Fatalf("landed %v while offset 2 is committing, want [0 1]", got)
	}
	if off := committed(t, addr, "async"); off > 2 {
		t.Fatalf("group committed offset %d while offset 2 is committing", off)
	}
	eng.gate(2) <- boom

	select {
	case err := <-done:
		if !errors.Is(err, boom) {
			t.Fatalf("Run = %v, want the commit error", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not stop after a failed commit")
	}
	if got := landedNow(); !slices.Equal(got, []int64{0, 1}) {
		t.Errorf("landed %v, want [0 1]: the failed batch must not be acted on", got)
	}
	if off := committed(t, addr, "async"); off > 2 {
		t.Errorf("group committed offset %d after the failure, want at most 2", off)
	}
	var order []int64
	for _, b := range eng.startedBatches() {
		order = append(order, b...)
	}
	if !slices.IsSorted(order) {
		t.Errorf("batches given to the engine out of order: %v", order)
	}
}

// committed is the group's committed offset of orders/0 (-1 if none).
// Commits are asynchronous to landing (at most once per CommitInterval,
// between batches), so tests can only bound it.
func committed(t *testing.T, addr, group string) int64 {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(addr), Transport: &kafka.Transport{}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{"orders": {0}}})
	if err != nil {
		t.Fatalf("fetch committed offsets: %v", err)
	}
	for _, p := range res.Topics["orders"] {
		if p.Partition == 0 {
			return p.CommittedOffset
		}
	}
	return -1
}
