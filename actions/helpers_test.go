package actions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/tracker-dev/tracker/broker"
	"github.com/tracker-dev/tracker/engine"
	"github.com/tracker-dev/tracker/models"
)

// repoSource adapts the model repository to engine.ProcessSource.
type repoSource struct{ *models.Repository }

func (r repoSource) LatestAll() []*models.Process { return r.LatestProcesses() }

// testClock is the engine's settable clock.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// now is "today" in the end-to-end tests; orders are placed days before it.
var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// world is a real engine (Pebble in a temp dir, models deployed through the
// repository) that the tests drive with Apply and Tick.
type world struct {
	t     testing.TB
	dir   string
	repo  *models.Repository
	clock *testClock
	eng   *engine.Engine
}

func newWorld(t testing.TB, dir string, files ...string) *world {
	t.Helper()
	w := &world{t: t, dir: dir, clock: &testClock{now: now}}
	repo, err := models.OpenRepository(filepath.Join(dir, "models"), models.RepositoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.repo = repo
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, problems, err := repo.Deploy(context.Background(), f, data); err != nil {
			t.Fatalf("deploy %s: %v %v", f, err, problems)
		}
	}
	w.open()
	t.Cleanup(func() { w.close() })
	return w
}

func (w *world) open() {
	w.t.Helper()
	eng, err := engine.Open(engine.Options{Dir: filepath.Join(w.dir, "engine"), Processes: repoSource{w.repo}, Clock: w.clock.Now, NoSync: true})
	if err != nil {
		w.t.Fatal(err)
	}
	w.eng = eng
}

func (w *world) close() {
	if w.eng != nil {
		if err := w.eng.Close(); err != nil {
			w.t.Error(err)
		}
		w.eng = nil
	}
}

// event is one domain event at an offset from now.
type event struct {
	name, key string
	at        time.Duration // before now
	vars      string
}

func (w *world) apply(evs ...event) []engine.Outcome {
	w.t.Helper()
	var ms []engine.Message
	for i, e := range evs {
		vars := e.vars
		if vars == "" {
			vars = `{}`
		}
		ms = append(ms, engine.Message{
			Name: e.name, CorrelationKey: e.key, ID: fmt.Sprintf("%s-%s-%d", e.key, e.name, i),
			EventTime: now.Add(-e.at), ReadAt: w.clock.Now(), Variables: []byte(vars), BufferTTL: time.Hour,
		})
	}
	out, err := w.eng.Apply(context.Background(), ms)
	if err != nil {
		w.t.Fatal(err)
	}
	return out
}

func (w *world) tick(watermark time.Time) engine.TickResult {
	w.t.Helper()
	res, err := w.eng.Tick(context.Background(), watermark)
	if err != nil {
		w.t.Fatal(err)
	}
	return res
}

func (w *world) pending() []engine.Action {
	w.t.Helper()
	var all []engine.Action
	after := uint64(0)
	for {
		as, err := w.eng.PendingActions(after, 10_000)
		if err != nil {
			w.t.Fatal(err)
		}
		if len(as) == 0 {
			return all
		}
		all = append(all, as...)
		after = as[len(as)-1].Seq
	}
}

// feed returns the change-feed entries of the given kinds.
func (w *world) feed(kinds ...engine.ChangeKind) []engine.Change {
	w.t.Helper()
	all, err := w.eng.Feed(0, 100_000)
	if err != nil {
		w.t.Fatal(err)
	}
	var out []engine.Change
	for _, c := range all {
		for _, k := range kinds {
			if c.Kind == k {
				out = append(out, c)
			}
		}
	}
	return out
}

// runRelay runs a relay over the world's engine until it has delivered or
// given up every action pending at the start, stops it and checks that the
// outbox is empty.
func (w *world) runRelay(opts Options) *Relay {
	w.t.Helper()
	return w.runRelayN(opts, int64(len(w.pending())))
}

// runRelayN is runRelay for a caller that knows how many actions are pending.
func (w *world) runRelayN(opts Options, want int64) *Relay {
	w.t.Helper()
	opts.Outbox = w.eng
	if opts.Backoff == nil {
		opts.Backoff = func(int) time.Duration { return time.Millisecond }
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = 10 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = testLogger(w.t)
	}
	r, err := New(opts)
	if err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	waitFor(w.t, "the relay to settle every action", func() bool { return r.settled.Load() >= want })
	cancel()
	if err := <-done; err != nil {
		w.t.Fatalf("Run: %v", err)
	}
	if n := len(w.pending()); n != 0 {
		w.t.Fatalf("%d actions still pending after the relay settled them all", n)
	}
	return r
}

// waitFor polls cond; it bounds a wait for asynchronous work, it does not
// measure anything.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

func startBroker(t testing.TB, topics ...string) *broker.Broker {
	t.Helper()
	b, err := broker.Start(broker.Options{Addr: "127.0.0.1:0", Topics: topics, Partitions: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// consumed is one record read back from a topic.
type consumed struct {
	key     string
	headers map[string]string
	rec     Record
	raw     string
}

// readTopic reads every record of a topic with kafka-go, partition by
// partition, up to the end offsets at the time of the call.
func readTopic(t testing.TB, addr, topic string) []consumed {
	t.Helper()
	conn, err := kafka.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	parts, err := conn.ReadPartitions(topic)
	if err != nil {
		t.Fatalf("read partitions of %s: %v", topic, err)
	}
	var out []consumed
	for _, p := range parts {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		pc, err := kafka.DialLeader(ctx, "tcp", addr, topic, p.ID)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		last, err := pc.ReadLastOffset()
		pc.Close()
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		if last == 0 {
			cancel()
			continue
		}
		rd := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: topic, Partition: p.ID, MaxWait: 50 * time.Millisecond})
		for {
			m, err := rd.ReadMessage(ctx)
			if err != nil {
				rd.Close()
				cancel()
				t.Fatalf("read %s/%d: %v", topic, p.ID, err)
			}
			out = append(out, decodeConsumed(t, string(m.Key), m.Headers, m.Value))
			if m.Offset >= last-1 {
				break
			}
		}
		rd.Close()
		cancel()
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].rec.RaisedAt.Before(out[j].rec.RaisedAt) })
	return out
}

func decodeConsumed(t testing.TB, key string, hs []kafka.Header, value []byte) consumed {
	t.Helper()
	c := consumed{key: key, headers: map[string]string{}, raw: string(value)}
	for _, h := range hs {
		c.headers[h.Key] = string(h.Value)
	}
	dec := json.NewDecoder(strings.NewReader(string(value)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c.rec); err != nil {
		t.Fatalf("record value is not a §9 action record: %v\n%s", err, value)
	}
	return c
}

// readTopicKcat reads a topic with kcat, as an operator would.
func readTopicKcat(t testing.TB, addr, topic string) []consumed {
	t.Helper()
	path, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat is not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "-C", "-b", addr, "-t", topic, "-o", "beginning", "-e", "-q", "-J").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("kcat: %v: %s", err, ee.Stderr)
		}
		t.Fatalf("kcat: %v", err)
	}
	var recs []consumed
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		var m struct {
			Key     string   `json:"key"`
			Payload string   `json:"payload"`
			Headers []string `json:"headers"`
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("kcat output %q: %v", line, err)
		}
		var hs []kafka.Header
		for i := 0; i+1 < len(m.Headers); i += 2 {
			hs = append(hs, kafka.Header{Key: m.Headers[i], Value: []byte(m.Headers[i+1])})
		}
		recs = append(recs, decodeConsumed(t, m.Key, hs, []byte(m.Payload)))
	}
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].rec.RaisedAt.Before(recs[j].rec.RaisedAt) })
	return recs
}
