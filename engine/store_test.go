package engine

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

func TestOpenErrors(t *testing.T) {
	p := &procs{}
	p.deploy(t, "order-fulfillment.bpmn")
	tests := []struct {
		name    string
		prepare func(t *testing.T, dir string) func()
		wantIs  error
		want    string
	}{
		{
			name: "second open of the same directory fails at once",
			prepare: func(t *testing.T, dir string) func() {
				e, err := Open(Options{Dir: dir, Processes: p})
				if err != nil {
					t.Fatal(err)
				}
				return func() { e.Close() }
			},
			wantIs: ErrLocked,
			want:   "is another tracker running with the same data_dir?",
		},
		{
			name: "newer format version",
			prepare: func(t *testing.T, dir string) func() {
				db, err := pebble.Open(dir, &pebble.Options{Logger: pebbleLogger{discard()}})
				if err != nil {
					t.Fatal(err)
				}
				e := enc{}
				e.uvarint(formatVersion + 1)
				if err := db.Set(keyFormat, e.b, pebble.Sync); err != nil {
					t.Fatal(err)
				}
				db.Close()
				return func() {}
			},
			wantIs: ErrNewerFormat,
			want:   "format version 3, this build reads up to 2",
		},
		{
			name: "foreign data without a format version",
			prepare: func(t *testing.T, dir string) func() {
				db, err := pebble.Open(dir, &pebble.Options{Logger: pebbleLogger{discard()}})
				if err != nil {
					t.Fatal(err)
				}
				db.Set([]byte("hello"), []byte("world"), pebble.Sync)
				db.Close()
				return func() {}
			},
			wantIs: ErrCorrupt,
			want:   "data without a format version",
		},
		{
			name: "damaged store files",
			prepare: func(t *testing.T, dir string) func() {
				e, err := Open(Options{Dir: dir, Processes: p})
				if err != nil {
					t.Fatal(err)
				}
				e.Close()
				ms, _ := filepath.Glob(filepath.Join(dir, "MANIFEST-*"))
				for _, m := range ms {
					os.WriteFile(m, []byte("garbage garbage garbage garbage"), 0o644)
				}
				return func() {}
			},
			want: "the store is damaged",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cleanup := tt.prepare(t, dir)
			defer cleanup()
			e, err := Open(Options{Dir: dir, Processes: p})
			if err == nil {
				e.Close()
				t.Fatal("Open succeeded")
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v is not %v", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), dir) {
				t.Errorf("error %q does not name the dir and %q", err, tt.want)
			}
		})
	}
}

func TestOptionsValidation(t *testing.T) {
	_, err := Open(Options{DedupeRetention: -time.Hour, CacheSize: -1})
	want := []string{"Dir is required", "Processes is required", "DedupeRetention -1h0m0s must not be negative", "CacheSize -1 must not be negative"}
	for _, w := range want {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v does not contain %q", err, w)
		}
	}
}

func TestPositionsAndFeedNotify(t *testing.T) {
	h := newHarness(t, "order-fulfillment.bpmn")
	a := msg("OrderPlaced", "A", "e1", 0)
	a.Position = Position{Topic: "orders", Partition: 2, Offset: 41}
	b := msg("PaymentReceived", "A", "e2", time.Hour)
	b.Position = Position{Topic: "payments", Partition: 0, Offset: 7}
	c := msg("OrderPlaced", "B", "e3", 0)
	c.Position = Position{Topic: "orders", Partition: 2, Offset: 40} // older offset never moves it back
	w1, w2 := h.e.FeedNotify(), h.e.FeedNotify()                     // two readers
	select {
	case <-w1:
		t.Fatal("notified before any commit")
	default:
	}
	h.apply(a, b, c)
	for i, w := range []<-chan struct{}{w1, w2} {
		select {
		case <-w:
		default:
			t.Errorf("reader %d: no feed notification after a commit", i)
		}
	}
	select {
	case <-h.e.FeedNotify():
		t.Error("a fresh channel is closed before the next commit")
	default:
	}
	h.reopen()
	got := h.e.Positions()
	want := map[TopicPartition]int64{{"orders", 2}: 42, {"payments", 0}: 8}
	if len(got) != len(want) || got[TopicPartition{"orders", 2}] != 42 || got[TopicPartition{"payments", 0}] != 8 {
		t.Errorf("positions = %v, want %v", got, want)
	}
}

// decider answers from a table by reason and counts calls.
type decider struct {
	by    map[Reason]string
	calls int
	fail  error
}

func (d *decider) Decide(_ context.Context, u UncorrelatedMessage) (Decision, error) {
	d.calls++
	if d.fail != nil {
		return Decision{}, d.fail
	}
	return Decision{Action: d.by[u.Reason], Severity: "low", RuleID: "r-" + string(u.Reason)}, nil
}

func TestDecisions(t *testing.T) {
	d := &decider{by: map[Reason]string{
		ReasonUnknownMessage: DecisionIgnore, ReasonDecodeError: DecisionDeadLetter,
		ReasonNoInstance: DecisionIncident, ReasonInstanceEnded: DecisionBuffer,
	}}
	h := &harness{t: t, dir: t.TempDir(), procs: &procs{}, clock: &testClock{now: t0}, dec: d}
	h.procs.deploy(t, "order-fulfillment.bpmn")
	h.open()
	defer h.e.Close()
	noTTL := msg("PaymentReceived", "Z", "z1", 0)
	noTTL.BufferTTL = 0
	outs := h.apply(
		msg("Heartbeat", "A", "h1", 0),
		Message{ID: "bad", Invalid: ReasonDecodeError, Detail: "invalid JSON at byte 3", Raw: []byte("{x"), EventTime: t0},
		noTTL,
	)
	want := []string{"uncorrelated UNKNOWN_MESSAGE/ignore", "uncorrelated DECODE_ERROR/dead-letter", "uncorrelated NO_INSTANCE/incident"}
	for i, o := range outs {
		if got := outcome(o) + "/" + o.Decision.Action; got != want[i] {
			t.Errorf("outcome %d = %s, want %s", i, got, want[i])
		}
	}
	if acts, _ := h.e.PendingActions(0, 10); len(acts) != 0 {
		t.Errorf("a dead-letter decision must not raise an action (the consumer writes the record): %+v", acts)
	}
	feed, _ := h.e.Feed(0, 100)
	kinds := map[ChangeKind]int{}
	for _, c := range feed {
		kinds[c.Kind]++
	}
	if kinds[ChangeIgnored] != 1 || kinds[ChangeIncident] != 2 || kinds[ChangeAction] != 0 || kinds[ChangeMessage] != 3 {
		t.Errorf("feed kinds = %v", kinds)
	}
	// retry of the incident: the same message again, redelivered, now finds its instance
	h.apply(msg("OrderPlaced", "Z", "z0", 0))
	retry := noTTL
	retry.Redeliver = true
	if outs := h.apply(noTTL, retry); outcome(outs[0]) != "duplicate" || outcome(outs[1]) != "correlated" {
		t.Errorf("duplicate and redelivered retry: %s, %s", outcome(outs[0]), outcome(outs[1]))
	}
	// a failing decider fails the whole batch and nothing is applied
	d.fail = errors.New("table broken")
	if _, err := h.e.Apply(context.Background(), []Message{msg("OrderPlaced", "Q", "q1", 0), msg("Heartbeat", "Q", "q2", 0)}); err == nil || !strings.Contains(err.Error(), "table broken") {
		t.Fatalf("Apply error = %v", err)
	}
	d.fail = nil
	outs = h.apply(msg("OrderPlaced", "Q", "q1", 0))
	if outs[0].Result != Started {
		t.Errorf("after a failed batch the message is %s, want started (nothing of the batch was applied)", outs[0].Result)
	}
}

func TestMarkActions(t *testing.T) {
	h := newHarness(t, "order-fulfillment.bpmn")
	h.apply(msg("OrderPlaced", "A", "e1", 0), msg("OrderPlaced", "B", "e2", 0))
	h.clock.now = t0.Add(22 * day24)
	h.tick(h.clock.now)
	acts, err := h.e.PendingActions(0, 10)
	if err != nil || len(acts) != 4 {
		t.Fatalf("pending = %d, %v", len(acts), err)
	}
	a := acts[0]
	if a.Type != "SendDelayNoticeCommand" || a.Target != "commands" || a.DueAt == nil || !a.DueAt.Equal(t0.Add(14*day24)) || a.CorrelationKey != "A" || len(a.ID) != 32 {
		t.Errorf("action = %+v", a)
	}
	err = h.e.MarkActions(context.Background(), []ActionUpdate{
		{Seq: acts[0].Seq, State: ActionDelivered},
		{Seq: acts[1].Seq, State: ActionPending, Error: "broker down"},
		{Seq: acts[2].Seq, State: ActionFailed, Error: "broker down"},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.reopen()
	left, _ := h.e.PendingActions(0, 10)
	if len(left) != 2 || left[0].Seq != acts[1].Seq || left[0].Attempts != 1 || left[0].LastError != "broker down" || left[1].Seq != acts[3].Seq {
		t.Errorf("after marking: %+v", left)
	}
	if after, _ := h.e.PendingActions(acts[1].Seq, 10); len(after) != 1 {
		t.Errorf("PendingActions(after) = %d entries, want 1", len(after))
	}
	feed, _ := h.e.Feed(0, 1000)
	incidents := 0
	for _, c := range feed {
		if c.Kind == ChangeIncident && strings.Contains(string(c.Payload), "ACTION_FAILED") {
			incidents++
		}
	}
	if incidents != 1 {
		t.Errorf("%d ACTION_FAILED incidents, want 1", incidents)
	}
}

// TestFeedFrom reads the feed from every position, across chunk borders.
func TestFeedFrom(t *testing.T) {
	h := newHarness(t, "order-fulfillment.bpmn")
	var ms []Message
	for i := range 300 {
		ms = append(ms, msg("OrderPlaced", "k"+string(rune('a'+i%26))+strconv.Itoa(i), "id"+strconv.Itoa(i), 0))
	}
	h.apply(ms...)
	all, err := h.e.Feed(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 2*feedChunk {
		t.Fatalf("only %d feed entries", len(all))
	}
	for _, from := range []uint64{1, 2, feedChunk - 1, feedChunk, feedChunk + 1, uint64(len(all))} {
		got, err := h.e.Feed(from, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 || got[0].Seq != from || !reflect.DeepEqual(got[0], all[from-1]) {
			t.Errorf("Feed(%d) starts at %+v, want seq %d", from, got, from)
		}
		if from+3 <= uint64(len(all)) && len(got) != 3 {
			t.Errorf("Feed(%d, 3) returned %d entries", from, len(got))
		}
	}
	// trimming keeps everything from the checkpoint on
	cut := uint64(feedChunk + 10)
	if err := h.e.TrimFeed(context.Background(), cut); err != nil {
		t.Fatal(err)
	}
	rest, _ := h.e.Feed(0, 1<<20)
	if len(rest) == 0 || rest[0].Seq > cut || rest[0].Seq == 1 || !reflect.DeepEqual(rest[len(rest)-1], all[len(all)-1]) {
		t.Errorf("after TrimFeed(%d) the feed starts at %d with %d entries", cut, rest[0].Seq, len(rest))
	}
	if got, _ := h.e.Feed(cut, 1); len(got) != 1 || !reflect.DeepEqual(got[0], all[cut-1]) {
		t.Errorf("Feed(%d) after trimming = %+v", cut, got)
	}
	if got, _ := h.e.Feed(uint64(len(all))+1, 10); len(got) != 0 {
		t.Errorf("Feed past the end returned %d entries", len(got))
	}
	h.e.Close()
	if _, err := h.e.Feed(1, 1); !errors.Is(err, ErrClosed) {
		t.Errorf("Feed after Close: %v", err)
	}
	h.open()
}

func TestDedupeRetention(t *testing.T) {
	h := newHarness(t, "order-fulfillment.bpmn")
	m := msg("PaymentReceived", "Z", "z1", 0)
	m.BufferTTL = 0
	send := func() string {
		mm := m
		mm.ReadAt = time.Time{}
		return outcome(h.apply(mm)[0])
	}
	if got := send(); got != "uncorrelated NO_INSTANCE" {
		t.Fatalf("first: %s", got)
	}
	h.clock.now = t0.Add(6 * day24)
	h.tick(h.clock.now)
	h.reopen()
	if got := send(); got != "duplicate" {
		t.Errorf("within the retention: %s, want duplicate", got)
	}
	h.clock.now = t0.Add(8 * day24)
	h.tick(h.clock.now)
	h.reopen()
	if got := send(); got != "uncorrelated NO_INSTANCE" {
		t.Errorf("after the retention: %s, want uncorrelated NO_INSTANCE", got)
	}
}

func TestRetryAction(t *testing.T) {
	h := &harness{t: t, dir: t.TempDir(), procs: &procs{}, clock: &testClock{now: t0}}
	h.procs.deploy(t, "order-fulfillment.bpmn")
	h.open()
	defer h.e.Close()
	ctx := context.Background()
	h.apply(msg("OrderPlaced", "A", "e1", 0))
	h.clock.now = t0.Add(15 * 24 * time.Hour)
	if _, err := h.e.Tick(ctx, h.clock.now); err != nil {
		t.Fatal(err)
	}
	acts, _ := h.e.PendingActions(0, 10)
	if len(acts) != 1 {
		t.Fatalf("pending actions %+v", acts)
	}
	failed := acts[0]
	if _, err := h.e.RetryAction(ctx, failed.ID); !errors.Is(err, ErrNoFailedAction) {
		t.Fatalf("retrying a pending action: %v", err)
	}
	if err := h.e.MarkActions(ctx, []ActionUpdate{{Seq: failed.Seq, State: ActionFailed, Error: "webhook down"}}); err != nil {
		t.Fatal(err)
	}
	if acts, _ := h.e.PendingActions(0, 10); len(acts) != 0 {
		t.Fatalf("a given-up action stays pending: %+v", acts)
	}
	again, err := h.e.RetryAction(ctx, failed.ID)
	if err != nil {
		t.Fatal(err)
	}
	acts, _ = h.e.PendingActions(failed.Seq, 10)
	if len(acts) != 1 || acts[0].ID != failed.ID || acts[0].Seq <= failed.Seq || acts[0].Attempts != 0 || again.Requeued != 1 {
		t.Fatalf("requeued action %+v (was %+v)", acts, failed)
	}
	if _, err := h.e.RetryAction(ctx, failed.ID); !errors.Is(err, ErrNoFailedAction) {
		t.Fatalf("second retry of the same failure: %v", err)
	}
	// Failing again raises a new incident (a new id), so it can be retried again.
	if err := h.e.MarkActions(ctx, []ActionUpdate{{Seq: acts[0].Seq, State: ActionFailed, Error: "still down"}}); err != nil {
		t.Fatal(err)
	}
	feed, _ := h.e.Feed(0, 1000)
	var ids []string
	for _, c := range feed {
		if c.Kind == ChangeIncident {
			var p struct{ IncidentID, ActionID string }
			_ = json.Unmarshal(c.Payload, &p)
			ids = append(ids, p.IncidentID+"/"+p.ActionID)
		}
	}
	want := []string{failed.ID + "-failed/" + failed.ID, failed.ID + "-failed-1/" + failed.ID}
	if strings.Join(ids, " ") != strings.Join(want, " ") {
		t.Fatalf("incidents %v, want %v", ids, want)
	}
}

// TestSymbolsRollback: a batch that fails after its runs introduced new
// symbols (the model's element ids) forgets them, so the next batch that
// uses them stores them; after a reopen every record still decodes.
func TestSymbolsRollback(t *testing.T) {
	d := &decider{by: map[Reason]string{ReasonUnknownMessage: DecisionIgnore}}
	h := &harness{t: t, dir: t.TempDir(), procs: &procs{}, clock: &testClock{now: t0}, dec: d}
	h.procs.deploy(t, "order-fulfillment.bpmn")
	h.open()
	d.fail = errors.New("table broken")
	if _, err := h.e.Apply(context.Background(), []Message{msg("OrderPlaced", "A", "a1", 0), msg("Heartbeat", "A", "a2", 0)}); err == nil {
		t.Fatal("Apply with a failing decider succeeded")
	}
	if n := len(h.e.syms.strs); n != 0 {
		t.Errorf("%d symbols left by the failed batch: %q", n, h.e.syms.strs)
	}
	d.fail = nil
	out := h.apply(msg("OrderPlaced", "A", "a1", 0), msg("PaymentReceived", "A", "a2", time.Hour))
	want, _, err := h.e.Instance(out[0].InstanceKey)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.e.syms.strs) == 0 {
		t.Fatal("no symbols after a started instance")
	}
	h.reopen()
	defer h.e.Close()
	got, found, err := h.e.Instance(out[0].InstanceKey)
	if err != nil || !found {
		t.Fatalf("after reopen: found=%v err=%v", found, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after reopen\n got %+v\nwant %+v", got, want)
	}
	if out := h.apply(msg("GoodsFetched", "A", "a3", 2*time.Hour)); out[0].Result != Correlated {
		t.Errorf("after reopen: %s", outcome(out[0]))
	}
}

// TestParallelEncode covers prepare's two-goroutine group encoding: the
// first batch meets every model string for the first time (records are
// encoded again to add the symbols), the second encodes with known symbols.
// Every stored record must equal a sequential encode and survive a reopen.
func TestParallelEncode(t *testing.T) {
	h := newHarness(t, "order-fulfillment.bpmn")
	n := 3 * parallelEncode
	var placed, paid []Message
	for i := range n {
		ck := "P-" + strconv.Itoa(i)
		placed = append(placed, msg("OrderPlaced", ck, ck+"/1", 0))
		paid = append(paid, msg("PaymentReceived", ck, ck+"/2", time.Hour))
	}
	check := func(stage string) {
		t.Helper()
		for i := range n {
			ck := "P-" + strconv.Itoa(i)
			v, found, err := get(h.e.db, groupKey(ck))
			if err != nil || !found {
				t.Fatalf("%s: group %s: found=%v err=%v", stage, ck, found, err)
			}
			g, err := decodeGroup(v, h.e.syms)
			if err != nil {
				t.Fatalf("%s: decode group %s: %v", stage, ck, err)
			}
			ro := h.e.syms.readOnly()
			if want := encodeGroup(g, nil, ro); string(want) != string(v) || ro.missed {
				t.Fatalf("%s: group %s stored differently from a sequential encode (literal strings: %v)", stage, ck, ro.missed)
			}
		}
	}
	for _, o := range h.apply(placed...) {
		if o.Result != Started {
			t.Fatalf("OrderPlaced: %s", outcome(o))
		}
	}
	check("first batch")
	for _, o := range h.apply(paid...) {
		if o.Result != Correlated {
			t.Fatalf("PaymentReceived: %s", outcome(o))
		}
	}
	check("second batch")
	h.reopen()
	check("after reopen")
	if o := h.apply(msg("GoodsFetched", "P-7", "P-7/3", 2*time.Hour)); o[0].Result != Correlated {
		t.Errorf("after reopen: %s", outcome(o[0]))
	}
}

// TestTickFloors covers the scan floors of Tick: after a Tick the next scans
// start where it stopped, and a key written before a floor (a timer of an
// order whose events are old, a held message, a buffered one) lowers it, so
// nothing due is skipped.
func TestTickFloors(t *testing.T) {
	h := newHarness(t, "order-fulfillment.bpmn")
	h.clock.now = t0.Add(15 * day24)
	h.apply(msg("OrderPlaced", "A", "a1", 0))
	if res := h.tick(h.clock.now); res.Fired != 1 {
		t.Fatalf("first tick fired %d timers, want 1 (A's delay notice)", res.Fired)
	}
	if f := h.e.floors[floorIndex(pTimer)]; !f.Equal(h.clock.now) {
		t.Fatalf("timer floor after the tick = %s, want %s", f, h.clock.now)
	}
	// B's order was placed on day 0 too: its delay notice is due before the floor.
	h.apply(msg("OrderPlaced", "B", "b1", 0))
	if res := h.tick(h.clock.now); res.Fired != 1 {
		t.Fatalf("second tick fired %d timers, want 1 (B's delay notice, due before the floor)", res.Fired)
	}
	if got := h.actions(); len(got) != 2 {
		t.Fatalf("actions %q, want two delay notices", got)
	}
	// A message read (by a clock that was behind) before the expiry range's
	// floor was raised to the last tick's time expires before the floor.
	now := h.clock.now
	h.clock.now = t0.Add(day24)
	h.apply(msg("PaymentReceived", "C", "c1", 0))
	h.clock.now = now
	res := h.tick(h.clock.now)
	if res.Expired != 1 {
		t.Fatalf("tick expired %d buffered messages, want 1: %+v", res.Expired, res)
	}
}

// TestCleanupFloor: ended instances are removed after the retention even
// when one ends (by a clock that was behind) before the cleanup range's
// floor that the last Tick raised.
func TestCleanupFloor(t *testing.T) {
	h := newHarness(t, "order-fulfillment.bpmn")
	end := func(ck string) int64 {
		t.Helper()
		out := h.apply(msg("OrderPlaced", ck, ck+"1", 0), msg("PaymentReceived", ck, ck+"2", time.Hour),
			msg("GoodsFetched", ck, ck+"3", 2*time.Hour), msg("GoodsShipped", ck, ck+"4", 3*time.Hour),
			msg("OrderDelivered", ck, ck+"5", 4*time.Hour))
		v, found, err := h.e.Instance(out[0].InstanceKey)
		if err != nil || !found || v.State != InstanceCompleted {
			t.Fatalf("instance %s: found=%v err=%v state=%s", ck, found, err, v.State)
		}
		return out[0].InstanceKey
	}
	gone := func(key int64) bool {
		t.Helper()
		_, found, err := h.e.Instance(key)
		if err != nil {
			t.Fatal(err)
		}
		return !found
	}
	a := end("A")
	h.clock.now = t0.Add(8 * day24)
	h.tick(h.clock.now)
	if !gone(a) {
		t.Fatal("A not removed 8 days after it ended")
	}
	h.clock.now = t0 // a clock behind: B's cleanup is due before the floor
	b := end("B")
	h.clock.now = t0.Add(8 * day24)
	h.tick(h.clock.now)
	if !gone(b) {
		t.Fatal("B not removed although its retention passed (cleanup key before the floor)")
	}
}
