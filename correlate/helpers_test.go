package correlate

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/tracker-dev/tracker/config"
	"github.com/tracker-dev/tracker/engine"
	"github.com/tracker-dev/tracker/models"
)

// procs is an engine.ProcessSource over models parsed from testdata.
type procs struct{ all map[string]*models.Process }

func (p *procs) Latest(id string) (*models.Process, bool) { x, ok := p.all[id]; return x, ok }
func (p *procs) Get(id string, version int) (*models.Process, bool) {
	x, ok := p.all[id]
	if !ok || x.Version != version {
		return nil, false
	}
	return x, true
}
func (p *procs) LatestAll() []*models.Process {
	out := make([]*models.Process, 0, len(p.all))
	for _, x := range p.all {
		out = append(out, x)
	}
	return out
}

// known reports whether a model starts on or catches the message name.
func (p *procs) known(name string) bool {
	for _, x := range p.all {
		if len(x.StartEventsFor(name)) > 0 || len(x.CatchEventsFor(name)) > 0 {
			return true
		}
	}
	return false
}

func loadProcs(t testing.TB) *procs {
	t.Helper()
	file := filepath.Join("testdata", "order-fulfillment.bpmn")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	defs, problems := models.Parse(file, data, models.Options{})
	if defs == nil || len(defs.Processes) == 0 {
		t.Fatalf("parse %s: %v", file, problems)
	}
	p := &procs{all: map[string]*models.Process{}}
	for _, x := range defs.Processes {
		x.Version = 1
		p.all[x.ID] = x
	}
	return p
}

// clock is a settable clock shared by the engine and the consumer.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock { c := &clock{}; c.ns.Store(t.UnixNano()); return c }
func (c *clock) Now() time.Time   { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Add(d time.Duration) {
	c.ns.Add(int64(d))
}

// deciderFunc adapts a function to engine.Decider.
type deciderFunc func(u engine.UncorrelatedMessage) engine.Decision

func (f deciderFunc) Decide(_ context.Context, u engine.UncorrelatedMessage) (engine.Decision, error) {
	return f(u), nil
}

func openEngine(t testing.TB, dir string, clk *clock, dec engine.Decider) *engine.Engine {
	t.Helper()
	e, err := engine.Open(engine.Options{Dir: dir, Processes: loadProcs(t), Clock: clk.Now, Decider: dec, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	// Registered before the consumer's cleanup, so it runs after it.
	t.Cleanup(func() {
		if err := e.Close(); err != nil && !errors.Is(err, engine.ErrClosed) {
			t.Errorf("close engine: %v", err)
		}
	})
	return e
}

// newCluster starts an in-process Kafka-protocol broker and returns its address.
func newCluster(t testing.TB, opts ...kfake.Opt) (*kfake.Cluster, string) {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, c.ListenAddrs()[0]
}

// produce writes records with kafka-go, all at once.
func produce(t testing.TB, addr string, msgs ...kafka.Message) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(addr), Transport: &kafka.Transport{}, Balancer: &kafka.Hash{}, BatchTimeout: time.Millisecond, BatchSize: 1000, RequiredAcks: kafka.RequireAll, AllowAutoTopicCreation: true}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce %d records: %v", len(msgs), err)
	}
}

// recorder collects what the consumer applied, by topic/partition/offset.
type recorder struct {
	mu      sync.Mutex
	byPos   map[engine.Position]engine.Outcome
	msgs    map[engine.Position]engine.Message
	applied map[engine.Position]int
	ticks   []engine.Outcome
}

func newRecorder() *recorder {
	return &recorder{byPos: map[engine.Position]engine.Outcome{}, msgs: map[engine.Position]engine.Message{}, applied: map[engine.Position]int{}}
}

func (r *recorder) onApplied(batch []engine.Message, outs []engine.Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range batch {
		r.byPos[batch[i].Position] = outs[i]
		r.msgs[batch[i].Position] = batch[i]
		r.applied[batch[i].Position]++
	}
}

func (r *recorder) onTick(_ time.Time, res engine.TickResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ticks = append(r.ticks, res.Outcomes...)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.applied)
}

func (r *recorder) outcome(topic string, partition int, offset int64) (engine.Outcome, engine.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := engine.Position{Topic: topic, Partition: partition, Offset: offset}
	return r.byPos[p], r.msgs[p]
}

// waitFor polls cond until it holds; the bound only keeps a broken test from hanging.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// running is a consumer started in the background.
type running struct {
	c    *Consumer
	stop context.CancelFunc
	done chan error
	once sync.Once
}

// start runs a consumer until stop; the test fails if Run returns an error.
func start(t testing.TB, opts Options) *running {
	t.Helper()
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{c: c, stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- c.Run(ctx) }()
	t.Cleanup(func() { r.halt(t) })
	return r
}

// halt stops the consumer gracefully and waits for Run to return.
func (r *running) halt(t testing.TB) {
	t.Helper()
	r.once.Do(func() {
		r.stop()
		select {
		case err := <-r.done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
}

func kafkaCfg(addr, group string) config.Kafka {
	return config.Kafka{Brokers: []string{addr}, GroupID: group, BatchSize: 100, SessionTimeout: config.Duration{Duration: 6 * time.Second}}
}

func exampleConfigSource(topics ...string) config.Source {
	return config.Source{
		Name: "orders", Topics: topics, Format: "auto",
		MessageName: "$.type", CorrelationKey: "$.orderId", MessageID: "$.id", EventTime: "$.time", Variables: "$.data",
	}
}
