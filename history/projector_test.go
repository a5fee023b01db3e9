package history_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tracker-dev/tracker/engine"
	"github.com/tracker-dev/tracker/history"
)

func sameVars(t *testing.T, what string, got, want json.RawMessage) {
	t.Helper()
	var g, w any
	if len(got) > 0 {
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s: variables %s, engine has %s", what, got, want)
	}
}

// TestProjectorMatchesEngine projects real engine traffic and checks every
// instance against the engine's own view of it.
func TestProjectorMatchesEngine(t *testing.T) {
	w := newWorld(t)
	const n = 100
	w.apply(traffic(0, n))
	store := openStore(t, t.TempDir())
	defer store.Close()
	p := newProjector(t, w.e, store, history.ProjectorOptions{BatchSize: 150})
	ctx := context.Background()
	if err := p.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if st := p.Status(); st.Checkpoint != w.head() || !st.CaughtUp || st.LastError != "" {
		t.Errorf("status = %+v, want checkpoint %d, caught up, no error", st, w.head())
	}
	page, err := store.Instances(ctx, history.InstanceQuery{Sort: history.SortKeyAsc, Limit: history.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != n {
		t.Fatalf("history has %d instances, want %d", len(page.Items), n)
	}
	for _, in := range page.Items {
		v, found, err := w.e.Instance(in.Key)
		if err != nil || !found {
			t.Fatalf("engine instance %d: found=%v err=%v", in.Key, found, err)
		}
		what := "instance " + in.CorrelationKey
		if in.State != string(v.State) || !in.StartedAt.Equal(v.StartedAt) || !in.EndedAt.Equal(v.EndedAt) ||
			in.CorrelationKey != v.CorrelationKey || in.ProcessID != v.ProcessID || in.Version != v.Version || in.EndElement != v.EndElement {
			t.Errorf("%s: history %+v\nengine %+v", what, in, v)
		}
		sameVars(t, what, in.Variables, v.Variables)
		els, err := store.ElementInstances(ctx, in.Key)
		if err != nil {
			t.Fatal(err)
		}
		var got, want []string
		var active []string
		for _, e := range els {
			got = append(got, e.ElementID+"/"+e.State+"/"+e.StartedAt.Format(time.RFC3339)+"/"+e.EndedAt.Format(time.RFC3339))
		}
		for _, e := range v.Elements {
			want = append(want, e.ElementID+"/"+string(e.State)+"/"+e.StartedAt.Format(time.RFC3339)+"/"+e.EndedAt.Format(time.RFC3339))
			if e.State == engine.ElementActive {
				active = append(active, e.ElementID)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s path:\n got %v\nwant %v", what, got, want)
		}
		var gotActive []string
		for _, a := range in.ActiveElements {
			gotActive = append(gotActive, a.ElementID)
		}
		if !slices.Equal(gotActive, active) {
			t.Errorf("%s active elements = %v, engine %v", what, gotActive, active)
		}
	}

	// Events: every delivery, duplicates kept apart, unknown messages uncorrelated with an incident.
	var dups, unknown, correlated int
	for i := range n {
		if i%7 == 0 {
			dups++
		}
		if i%13 == 0 {
			unknown++
		}
		correlated += i % 5
	}
	count := func(q history.EventQuery) int {
		q.Limit = history.MaxLimit
		p, err := store.Events(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		return len(p.Items)
	}
	for _, tc := range []struct {
		name string
		q    history.EventQuery
		want int
	}{
		{"started", history.EventQuery{Outcome: "started"}, n},
		{"correlated", history.EventQuery{Outcome: "correlated"}, correlated},
		{"duplicate", history.EventQuery{Outcome: "duplicate"}, dups},
		{"unknown", history.EventQuery{Outcome: "uncorrelated", Reason: "UNKNOWN_MESSAGE"}, unknown},
		{"full text", history.EventQuery{Q: "parcel"}, unknown},
	} {
		if got := count(tc.q); got != tc.want {
			t.Errorf("events %s = %d, want %d", tc.name, got, tc.want)
		}
	}
	inc, err := store.Incidents(ctx, history.IncidentQuery{Reason: "UNKNOWN_MESSAGE", Limit: history.MaxLimit})
	if err != nil || len(inc.Items) != unknown {
		t.Errorf("UNKNOWN_MESSAGE incidents = %d (%v), want %d", len(inc.Items), err, unknown)
	}
	// Waiting at GoodsShipped: exactly the orders with i%5 == 2.
	at, err := store.Instances(ctx, history.InstanceQuery{Element: "GoodsShipped", Limit: history.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range at.Items {
		var i int
		if _, err := fmt.Sscan(strings.TrimPrefix(in.CorrelationKey, "ORD-"), &i); err != nil || (i-1000)%5 != 2 {
			t.Errorf("%s is listed at GoodsShipped", in.CorrelationKey)
		}
	}
	if len(at.Items) != n/5 {
		t.Errorf("%d instances at GoodsShipped, want %d", len(at.Items), n/5)
	}
	// Events counted per instance.
	in, _, _ := store.Instance(ctx, page.Items[4].Key) // order 4: all five steps
	if in.Events != 5 || in.State != history.StateCompleted {
		t.Errorf("order 4: events %d state %s, want 5 completed", in.Events, in.State)
	}
}

// TestProjectorCatchUp stops the projector while traffic flows, restarts it
// (and the store) and checks the result equals projecting everything at once.
func TestProjectorCatchUp(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	w.apply(traffic(0, 40))

	store := openStore(t, dir)
	f := &flaky{Backend: store, applied: make(chan uint64, 1000)}
	runUntil(t, newProjector(t, w.e, f, history.ProjectorOptions{BatchSize: 64, PollInterval: time.Hour}), f.applied, w.head())
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	// The writer is down; correlation goes on.
	w.apply(traffic(40, 90))

	store = openStore(t, dir)
	defer store.Close()
	if cp, _ := store.Checkpoint(context.Background()); cp == 0 || cp >= w.head() {
		t.Fatalf("checkpoint after restart = %d; want between 0 and %d", cp, w.head())
	}
	f = &flaky{Backend: store, applied: make(chan uint64, 1000)}
	p := newProjector(t, w.e, f, history.ProjectorOptions{BatchSize: 64, PollInterval: time.Hour})
	// Traffic that arrives while the projector runs is picked up via FeedNotify.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	w.apply(traffic(90, 120))
	head := w.head()
	for cp := range f.applied {
		if cp >= head {
			break
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	ref := openStore(t, t.TempDir())
	defer ref.Close()
	if err := newProjector(t, w.e, ref, history.ProjectorOptions{}).Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := dump(t, store), dump(t, ref); got != want {
		t.Errorf("history after stop/restart differs from a single pass:\n%s", firstDiff(got, want))
	}
}

// TestProjectorBackendDown: failing writes are retried with backoff; the
// engine goes on meanwhile and nothing is lost or doubled.
func TestProjectorBackendDown(t *testing.T) {
	w := newWorld(t)
	w.apply(traffic(0, 30))
	store := openStore(t, t.TempDir())
	defer store.Close()
	f := &flaky{Backend: store, fail: 5, applied: make(chan uint64, 1000)}
	p := newProjector(t, w.e, f, history.ProjectorOptions{BatchSize: 50, RetryMin: time.Millisecond, RetryMax: 2 * time.Millisecond})
	w.apply(traffic(30, 60)) // correlation does not wait for history
	runUntil(t, p, f.applied, w.head())
	if st := p.Status(); !strings.Contains(st.LastError, "simulated") {
		t.Errorf("status %+v does not report the backend failure", st)
	}
	ref := openStore(t, t.TempDir())
	defer ref.Close()
	if err := newProjector(t, w.e, ref, history.ProjectorOptions{}).Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := dump(t, store), dump(t, ref); got != want {
		t.Errorf("history after outage differs from a clean pass:\n%s", firstDiff(got, want))
	}
}

// TestProjectorReplay: a backend whose checkpoint lags behind its documents
// (as Elasticsearch may after a crash between a bulk and the checkpoint)
// gets changes again; instance documents skip what they already reflect.
func TestProjectorReplay(t *testing.T) {
	w := newWorld(t)
	w.apply(traffic(0, 50))
	store := openStore(t, t.TempDir())
	defer store.Close()
	if err := newProjector(t, w.e, store, history.ProjectorOptions{}).Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := dump(t, store)
	for _, from := range []uint64{1, 37, w.head() / 2} {
		f := &flaky{Backend: store, staleFrom: from}
		if err := newProjector(t, w.e, f, history.ProjectorOptions{BatchSize: 25}).Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := dump(t, store); got != want {
			t.Errorf("replay from %d changed the read model:\n%s", from, firstDiff(got, want))
		}
	}
}

func TestNewProjectorOptions(t *testing.T) {
	w := newWorld(t)
	store := openStore(t, filepath.Join(t.TempDir(), "h"))
	defer store.Close()
	tests := []struct {
		name string
		opts history.ProjectorOptions
		want string
	}{
		{"nothing", history.ProjectorOptions{}, "history projector options: Feed is required\nhistory projector options: Backend is required"},
		{"negative", history.ProjectorOptions{Feed: w.e, Backend: store, RetryMin: -1, BatchSize: -2},
			"history projector options: RetryMin -1ns must not be negative\nhistory projector options: BatchSize -2 must not be negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := history.NewProjector(tc.opts)
			if err == nil || err.Error() != tc.want {
				t.Errorf("err = %v\nwant %s", err, tc.want)
			}
		})
	}
}

func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range min(len(g), len(w)) {
		if g[i] != w[i] {
			lo := max(0, i-5)
			return "got:\n" + strings.Join(g[lo:min(len(g), i+5)], "\n") + "\nwant:\n" + strings.Join(w[lo:min(len(w), i+5)], "\n")
		}
	}
	return "lengths differ"
}

// corruptFeed garbles the payload of one feed entry.
type corruptFeed struct {
	inner history.Feed
	seq   uint64
}

func (f corruptFeed) FeedNotify() <-chan struct{} { return f.inner.FeedNotify() }

func (f corruptFeed) Feed(from uint64, max int) ([]engine.Change, error) {
	ch, err := f.inner.Feed(from, max)
	for i := range ch {
		if ch[i].Seq == f.seq {
			ch[i].Payload = []byte(`{"broken`)
		}
	}
	return ch, err
}

// TestProjectorSkipsUnreadableChange: one bad entry is logged and skipped;
// history goes on.
func TestProjectorSkipsUnreadableChange(t *testing.T) {
	w := newWorld(t)
	w.apply(traffic(0, 10))
	var bad engine.Change
	all, err := w.e.Feed(1, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range all {
		if c.Kind == engine.ChangeMessage {
			bad = c
			break
		}
	}
	store := openStore(t, t.TempDir())
	defer store.Close()
	reg := prometheus.NewRegistry()
	p := newProjector(t, corruptFeed{inner: w.e, seq: bad.Seq}, store, history.ProjectorOptions{Registerer: reg})
	if err := p.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := p.Status(); st.Skipped != 1 || st.Checkpoint != w.head() {
		t.Errorf("status = %+v, want 1 skipped and checkpoint %d", st, w.head())
	}
	ev, err := store.Events(context.Background(), history.EventQuery{Limit: history.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(ev.Items), len(traffic(0, 10))-1; got != want {
		t.Errorf("%d events, want %d (all but the unreadable one)", got, want)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			got[mf.GetName()] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	head := float64(w.head())
	for name, want := range map[string]float64{
		"tracker_history_changes_skipped_total": 1, "tracker_history_changes_applied_total": head, "tracker_history_checkpoint": head,
	} {
		if got[name] != want {
			t.Errorf("metric %s = %v, want %v", name, got[name], want)
		}
	}
}
