package actions

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tracker-dev/tracker/config"
	"github.com/tracker-dev/tracker/engine"
)

// memOutbox is an in-memory outbox that behaves like the engine's:
// delivered and failed entries leave it, every update counts an attempt.
type memOutbox struct {
	mu      sync.Mutex
	next    uint64
	entries map[uint64]engine.Action
	updates []engine.ActionUpdate
	final   map[string]engine.Action // by action id, once delivered or failed
	notify  chan struct{}
}

func newMemOutbox() *memOutbox {
	return &memOutbox{entries: map[uint64]engine.Action{}, final: map[string]engine.Action{}, notify: make(chan struct{}, 1)}
}

func (o *memOutbox) add(target, typ string, n int) []string {
	o.mu.Lock()
	var ids []string
	for range n {
		o.next++
		id := fmt.Sprintf("%s-%d", target, o.next)
		o.entries[o.next] = engine.Action{Seq: o.next, ID: id, Type: typ, Target: target, CorrelationKey: id,
			InstanceKey: int64(o.next), ElementID: "Send", State: engine.ActionPending}
		ids = append(ids, id)
	}
	o.mu.Unlock()
	select {
	case o.notify <- struct{}{}:
	default:
	}
	return ids
}

func (o *memOutbox) PendingActions(after uint64, max int) ([]engine.Action, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []engine.Action
	for seq := after + 1; seq <= o.next && len(out) < max; seq++ {
		if a, ok := o.entries[seq]; ok {
			out = append(out, a)
		}
	}
	return out, nil
}

func (o *memOutbox) MarkActions(_ context.Context, us []engine.ActionUpdate) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, u := range us {
		a, ok := o.entries[u.Seq]
		if !ok {
			continue
		}
		a.Attempts++
		a.LastError, a.State = u.Error, u.State
		o.updates = append(o.updates, u)
		if u.State == engine.ActionPending {
			o.entries[u.Seq] = a
			continue
		}
		delete(o.entries, u.Seq)
		o.final[a.ID] = a
	}
	return nil
}

func (o *memOutbox) FeedNotify() <-chan struct{} { return o.notify }

func (o *memOutbox) state(id string) (engine.Action, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	a, ok := o.final[id]
	return a, ok
}

func (o *memOutbox) pending() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.entries)
}

// scriptSender records what it is asked to send and fails as told.
type scriptSender struct {
	mu      sync.Mutex
	fail    func(id string, attempt int) error // nil: always delivered
	tries   map[string]int
	sent    []string    // delivered ids, in order
	at      []time.Time // time of every attempt
	batches []int       // size of every attempt
}

func (s *scriptSender) send(_ context.Context, items []*item) []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tries == nil {
		s.tries = map[string]int{}
	}
	s.at = append(s.at, time.Now())
	s.batches = append(s.batches, len(items))
	errs := make([]error, len(items))
	for i, it := range items {
		s.tries[it.a.ID]++
		if s.fail != nil {
			errs[i] = s.fail(it.a.ID, s.tries[it.a.ID])
		}
		if errs[i] == nil {
			s.sent = append(s.sent, it.a.ID)
		}
	}
	return errs
}

func (s *scriptSender) close() error { return nil }

func (s *scriptSender) batchSizes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.batches)
}

func (s *scriptSender) delivered() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sent)
}

// fixture runs a relay over a memOutbox with script senders per target name
// inside a synctest bubble.
type fixture struct {
	ob      *memOutbox
	r       *Relay
	senders map[string]*scriptSender
	reg     *prometheus.Registry
	stop    func()
}

func startFixture(t *testing.T, opts Options, senders map[string]*scriptSender) *fixture {
	t.Helper()
	f := &fixture{ob: newMemOutbox(), senders: senders, reg: prometheus.NewRegistry()}
	opts.Outbox, opts.Registerer = f.ob, f.reg
	if opts.Backoff == nil {
		opts.Backoff = func(n int) time.Duration { return time.Duration(n) * time.Minute }
	}
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	r.newSender = func(kind, name, detail string) sender {
		if kind == kindInvalid {
			return invalidSender{reason: detail}
		}
		s := senders[name]
		if s == nil {
			t.Errorf("no sender for target %s", name)
			return invalidSender{reason: "no test sender"}
		}
		return s
	}
	f.r = r
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	f.stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	synctest.Wait()
	return f
}

var errDown = errors.New("connection refused")

func TestRetryBackoffThenDelivered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &scriptSender{fail: func(_ string, attempt int) error {
			if attempt <= 2 {
				return fmt.Errorf("attempt %d: %w", attempt, errDown)
			}
			return nil
		}}
		f := startFixture(t, Options{}, map[string]*scriptSender{"commands": s})
		defer f.stop()
		start := time.Now()
		ids := f.ob.add("commands", "SendDelayNoticeCommand", 1)
		time.Sleep(time.Hour)
		synctest.Wait()

		if got := s.delivered(); !slices.Equal(got, ids) {
			t.Fatalf("delivered %v, want %v", got, ids)
		}
		a, ok := f.ob.state(ids[0])
		if !ok || a.State != engine.ActionDelivered || a.Attempts != 3 {
			t.Fatalf("outbox entry %+v (final %v), want delivered after 3 attempts", a, ok)
		}
		var failures []string
		for _, u := range f.ob.updates {
			if u.State == engine.ActionPending {
				failures = append(failures, u.Error)
			}
		}
		want := []string{"attempt 1: connection refused", "attempt 2: connection refused"}
		if !slices.Equal(failures, want) {
			t.Errorf("recorded failures %q, want %q", failures, want)
		}
		// Backoff(1) = 1m after the first failure, Backoff(2) = 2m after the second.
		var gaps []time.Duration
		for i, at := range s.at {
			if i > 0 {
				gaps = append(gaps, at.Sub(s.at[i-1]))
			}
		}
		if !slices.Equal(gaps, []time.Duration{time.Minute, 2 * time.Minute}) || s.at[0] != start {
			t.Errorf("attempts at %v after start, gaps %v; want first at once, then 1m and 2m", s.at[0].Sub(start), gaps)
		}
		if got := metricValue(t, f.reg, "tracker_actions_delivered_total", "SendDelayNoticeCommand", "commands"); got != 1 {
			t.Errorf("delivered metric %v, want 1", got)
		}
		if got := metricValue(t, f.reg, "tracker_action_attempt_errors_total", "commands"); got != 2 {
			t.Errorf("attempt errors metric %v, want 2", got)
		}
	})
}

func TestGiveUp(t *testing.T) {
	tests := []struct {
		name      string
		opts      Options
		fail      func(string, int) error
		target    string
		attempts  int
		wantError string
		after     time.Duration // when the incident is raised, from the first attempt
	}{
		{name: "attempt budget", opts: Options{MaxAttempts: 3}, fail: func(string, int) error { return errDown },
			target: "commands", attempts: 3, wantError: "connection refused", after: 3 * time.Minute},
		{name: "age budget", opts: Options{MaxAttempts: 1000, MaxAge: 10 * time.Minute, Backoff: func(int) time.Duration { return 4 * time.Minute }},
			fail: func(string, int) error { return errDown }, target: "commands", attempts: 4, wantError: "connection refused", after: 12 * time.Minute},
		{name: "permanent error", fail: func(string, int) error { return permanent(errors.New("webhook answered 400 Bad Request")) },
			target: "commands", attempts: 1, wantError: "webhook answered 400 Bad Request"},
		{name: "named target not configured", opts: Options{Targets: map[string]config.Target{"commands": {KafkaTopic: "commands"}}},
			target: "ops", attempts: 1, wantError: `element Send names target "ops", which is not configured (configured targets: commands)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &scriptSender{fail: tt.fail}
				f := startFixture(t, tt.opts, map[string]*scriptSender{"commands": s})
				defer f.stop()
				start := time.Now()
				f.ob.mu.Lock()
				f.ob.next++
				a := engine.Action{Seq: f.ob.next, ID: "x", Type: "CancelOrderCommand", Target: tt.target, ElementID: "Send"}
				if tt.target == "ops" {
					a.Headers = map[string]string{"target": "ops"}
				}
				f.ob.entries[a.Seq] = a
				f.ob.mu.Unlock()
				f.ob.notify <- struct{}{}
				synctest.Wait()
				for f.ob.pending() > 0 {
					time.Sleep(time.Second)
					synctest.Wait()
				}
				got, _ := f.ob.state("x")
				if got.State != engine.ActionFailed || got.Attempts != tt.attempts || got.LastError != tt.wantError {
					t.Errorf("final entry: state %s, attempts %d, error %q; want failed, %d, %q", got.State, got.Attempts, got.LastError, tt.attempts, tt.wantError)
				}
				if el := time.Since(start); el.Truncate(time.Second) != tt.after {
					t.Errorf("gave up %v after the first attempt, want %v", el, tt.after)
				}
				name := "commands"
				if tt.target == "ops" {
					name = "ops"
				}
				if got := metricValue(t, f.reg, "tracker_actions_failed_total", "CancelOrderCommand", name); got != 1 {
					t.Errorf("failed metric %v, want 1", got)
				}
			})
		})
	}
}

// A dead target keeps retrying while another target delivers everything,
// even when the dead target's queue overflows; when it recovers it
// delivers its backlog in outbox order.
func TestDeadTargetDoesNotBlockOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var down sync.Mutex
		dead := true
		a := &scriptSender{fail: func(string, int) error {
			down.Lock()
			defer down.Unlock()
			if dead {
				return errDown
			}
			return nil
		}}
		b := &scriptSender{}
		f := startFixture(t, Options{QueueSize: 4, BatchSize: 2, MaxAttempts: 1000}, map[string]*scriptSender{"a": a, "b": b})
		defer f.stop()
		var wantA, wantB []string
		for range 5 {
			wantA = append(wantA, f.ob.add("a", "T", 3)...)
			wantB = append(wantB, f.ob.add("b", "T", 2)...)
			synctest.Wait()
		}
		time.Sleep(30 * time.Minute)
		synctest.Wait()
		if got := b.delivered(); !slices.Equal(got, wantB) {
			t.Fatalf("target b delivered %v, want %v", got, wantB)
		}
		if got := a.delivered(); len(got) != 0 {
			t.Fatalf("dead target a delivered %v", got)
		}
		ok, st := f.r.Ready()
		if !ok || st.Depth != len(wantA) {
			t.Errorf("Ready() = %v, depth %d; want ready with depth %d", ok, st.Depth, len(wantA))
		}
		if age := metricValue(t, f.reg, "tracker_actions_oldest_undelivered_seconds"); age < 30*60 {
			t.Errorf("oldest undelivered age %vs, want at least 1800", age)
		}
		down.Lock()
		dead = false
		down.Unlock()
		time.Sleep(2 * time.Hour)
		synctest.Wait()
		if got := a.delivered(); !slices.Equal(got, wantA) {
			t.Fatalf("recovered target a delivered %v, want %v", got, wantA)
		}
		if n := f.ob.pending(); n != 0 {
			t.Errorf("%d entries left in the outbox", n)
		}
	})
}

// metricValue reads one sample from reg: the metric with that name whose
// label values (in label-name order) are values; 0 if there is none.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, values ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			lps := m.GetLabel()
			if len(lps) != len(values) {
				continue
			}
			// labels come sorted by name: target before type
			vals := map[string]string{}
			for _, lp := range lps {
				vals[lp.GetName()] = lp.GetValue()
			}
			names := []string{"type", "target"}
			if len(values) == 1 {
				names = []string{"target"}
			}
			for i, v := range values {
				if vals[names[i]] != v {
					continue next
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			}
		}
	}
	return 0
}

// Attempts recorded before a restart count toward the budget.
func TestAttemptsSurviveRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &scriptSender{fail: func(string, int) error { return errDown }}
		f := startFixture(t, Options{MaxAttempts: 5}, map[string]*scriptSender{"commands": s})
		ids := f.ob.add("commands", "T", 1)
		time.Sleep(150 * time.Second) // attempts at 0, 1m, 3m: two so far
		synctest.Wait()
		f.stop()
		f2 := &fixture{}
		*f2 = *f
		r, err := New(Options{Outbox: f.ob, MaxAttempts: 5, Backoff: func(int) time.Duration { return time.Minute }})
		if err != nil {
			t.Fatal(err)
		}
		r.newSender = func(string, string, string) sender { return s }
		stop := runInBackground(t, r)
		time.Sleep(time.Hour)
		synctest.Wait()
		stop()
		a, _ := f.ob.state(ids[0])
		if a.State != engine.ActionFailed || a.Attempts != 5 || s.tries[ids[0]] != 5 {
			t.Errorf("entry %s after %d sends with %d attempts, want failed after 5", a.State, s.tries[ids[0]], a.Attempts)
		}
	})
}

func TestNewRejectsBadOptions(t *testing.T) {
	t.Setenv("TRACKER_TEST_SET", "secret")
	_, err := New(Options{
		MaxAttempts: -1, MaxAge: -time.Second,
		Targets: map[string]config.Target{
			"both":    {KafkaTopic: "x", Webhook: "http://h"},
			"neither": {},
			"ftp":     {Webhook: "ftp://h"},
			"env":     {Webhook: "http://h", HeadersEnv: map[string]string{"Authorization": "TRACKER_TEST_UNSET_VAR"}},
			"ok":      {Webhook: "http://h", HeadersEnv: map[string]string{"Authorization": "TRACKER_TEST_SET"}},
		},
	})
	if err == nil {
		t.Fatal("New accepted bad options")
	}
	want := []string{
		"actions options: Outbox is required",
		"actions options: MaxAttempts -1 must not be negative",
		"actions options: MaxAge -1s must not be negative",
		"targets.both: set either kafka_topic or webhook, not both",
		"targets.env.headers_env.Authorization: environment variable TRACKER_TEST_UNSET_VAR is not set",
		`targets.ftp.webhook "ftp://h": must be an http:// or https:// URL`,
		"targets.neither: set kafka_topic or webhook",
	}
	got := strings.Split(err.Error(), "\n")
	if !slices.Equal(got, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestRoute(t *testing.T) {
	r, err := New(Options{Outbox: newMemOutbox(), Targets: map[string]config.Target{
		"commands": {KafkaTopic: "commands-v2"}, "ops": {Webhook: "http://127.0.0.1:1/hook"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	rd, err := New(Options{Outbox: newMemOutbox(), DefaultTarget: "ops", Targets: map[string]config.Target{
		"ops": {Webhook: "http://127.0.0.1:1/hook"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		r    *Relay
		a    engine.Action
		want string
	}{
		{"topic header", r, engine.Action{Target: "orders-out", Headers: map[string]string{"topic": "orders-out"}}, "kafka orders-out orders-out"},
		{"kafka-topic header", r, engine.Action{Target: "x", Headers: map[string]string{"kafka-topic": "x"}}, "kafka x x"},
		{"topic header wins over a target of the same name", r, engine.Action{Target: "commands", Headers: map[string]string{"topic": "commands"}}, "kafka commands commands"},
		{"named kafka target", r, engine.Action{Target: "commands", Headers: map[string]string{"target": "commands"}}, "kafka commands commands-v2"},
		{"named webhook target", r, engine.Action{Target: "ops", Headers: map[string]string{"target": "ops"}}, "webhook ops http://127.0.0.1:1/hook"},
		{"unknown named target", r, engine.Action{ElementID: "E", Target: "nope", Headers: map[string]string{"target": "nope"}},
			`invalid nope element E names target "nope", which is not configured (configured targets: commands, ops)`},
		{"no headers, configured name", r, engine.Action{Target: "ops"}, "webhook ops http://127.0.0.1:1/hook"},
		{"no headers, topic", r, engine.Action{Target: "t1"}, "kafka t1 t1"},
		{"no target, no default", r, engine.Action{ElementID: "E"}, "invalid none element E names no target: set task header topic or target, or configure a default target"},
		{"no target, default", rd, engine.Action{ElementID: "E"}, "webhook ops http://127.0.0.1:1/hook"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, n, d := tt.r.route(&tt.a)
			if got := k + " " + n + " " + d; got != tt.want {
				t.Errorf("route = %q, want %q", got, tt.want)
			}
		})
	}
}

// A worker with Linger waits for a full batch, but no longer than Linger;
// without Linger it sends what is queued at once.
func TestLinger(t *testing.T) {
	tests := []struct {
		name   string
		linger time.Duration
		adds   []int // actions added, one call each, before waiting
		wait   time.Duration
		want   []int // batch sizes sent after the wait
	}{
		{"no linger sends at once", 0, []int{1}, 0, []int{1}},
		{"partial batch waits for the linger", time.Second, []int{2}, 999 * time.Millisecond, nil},
		{"partial batch goes out after the linger", time.Second, []int{2}, time.Second, []int{2}},
		{"a full batch ends the linger", time.Minute, []int{1, 2}, 0, []int{3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &scriptSender{}
				f := startFixture(t, Options{Linger: tt.linger, BatchSize: 3}, map[string]*scriptSender{"commands": s})
				defer f.stop()
				for _, n := range tt.adds {
					f.ob.add("commands", "T", n)
					synctest.Wait()
				}
				time.Sleep(tt.wait)
				synctest.Wait()
				if got := s.batchSizes(); !slices.Equal(got, tt.want) {
					t.Errorf("batches %v, want %v", got, tt.want)
				}
			})
		})
	}
}

// gatedOutbox holds MarkActions until the test opens the gate, and records
// how many updates every call carried.
type gatedOutbox struct {
	*memOutbox
	gate  chan struct{}
	mu    sync.Mutex
	calls []int
}

func (g *gatedOutbox) MarkActions(ctx context.Context, us []engine.ActionUpdate) error {
	g.mu.Lock()
	g.calls = append(g.calls, len(us))
	g.mu.Unlock()
	<-g.gate
	return g.memOutbox.MarkActions(ctx, us)
}

// runGated starts a relay over ob that sends to s, until stop.
func runGated(t *testing.T, ob *gatedOutbox, s *scriptSender, batch int) (stop func()) {
	t.Helper()
	r, err := New(Options{Outbox: ob, BatchSize: batch})
	if err != nil {
		t.Fatal(err)
	}
	r.newSender = func(string, string, string) sender { return s }
	return runInBackground(t, r)
}

// markCalls returns the sizes of the MarkActions calls so far.
func (g *gatedOutbox) markCalls() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.calls)
}

// Attempts that finish while the outbox is still recording an earlier one
// are recorded together, with one MarkActions call; until then they stay in
// flight and are not read again.
func TestMarksCoalesce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ob := &gatedOutbox{memOutbox: newMemOutbox(), gate: make(chan struct{})}
		s := &scriptSender{}
		stop := runGated(t, ob, s, 1)
		ids := ob.add("commands", "T", 1)
		synctest.Wait() // the first mark is blocked
		ids = append(ids, ob.add("commands", "T", 2)...)
		synctest.Wait() // the other two attempts wait behind it
		if got := s.delivered(); !slices.Equal(got, ids) {
			t.Errorf("sent %v before the first mark, want %v (each once)", got, ids)
		}
		close(ob.gate)
		synctest.Wait()
		if calls := ob.markCalls(); !slices.Equal(calls, []int{1, 2}) {
			t.Errorf("MarkActions calls with %v updates, want [1 2]", calls)
		}
		if n := ob.pending(); n != 0 {
			t.Errorf("%d actions still pending", n)
		}
		stop()
		if got := s.delivered(); !slices.Equal(got, ids) {
			t.Errorf("sent %v, want %v (each once)", got, ids)
		}
	})
}

// No outbox write carries more than markChunk updates, however large the
// batches, so the engine's write lock is never held for long.
func TestMarksAreChunked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		close(gate)
		ob := &gatedOutbox{memOutbox: newMemOutbox(), gate: gate}
		s := &scriptSender{}
		stop := runGated(t, ob, s, 5000)
		const n = 2*markChunk + 500
		ob.add("commands", "T", n)
		synctest.Wait()
		stop()
		calls := ob.markCalls()
		sum := 0
		for _, c := range calls {
			sum += c
		}
		if sum != n || slices.Max(calls) > markChunk || len(s.delivered()) != n {
			t.Errorf("%d sent, marks %v (total %d); want %d, each at most %d", len(s.delivered()), calls, sum, n, markChunk)
		}
		if left := ob.pending(); left != 0 {
			t.Errorf("%d actions still pending", left)
		}
	})
}
