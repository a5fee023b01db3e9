package history_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tracker-dev/tracker/engine"
	"github.com/tracker-dev/tracker/history"
	"github.com/tracker-dev/tracker/history/sqlite"
	"github.com/tracker-dev/tracker/incidents"
)

// TestProjectorFollowsIncidentStates runs the projector beside the real
// incident store. Incidents resolved before history has them are written
// resolved, ones resolved later are updated when the store signals them, and
// ones resolved while nobody listened are caught up by the next projector's
// start; the engine's incident for a retry that did not correlate is
// resolved at once (the store folds it into the original). The instance of a resolved ACTION_FAILED incident counts it no
// longer, nor do the statistics, and the result equals projecting the whole
// feed afresh.
func TestProjectorFollowsIncidentStates(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.apply(traffic(0, 40)) // unknown messages of orders 0, 13, 26 and 39: incidents without an instance
	// The delay notice of an order waiting 15 days fails: an incident on its instance.
	w.now = t0.Add(15 * 24 * time.Hour)
	if _, err := w.e.Tick(ctx, w.now); err != nil {
		t.Fatal(err)
	}
	acts, err := w.e.PendingActions(0, 1)
	if err != nil || len(acts) != 1 {
		t.Fatalf("pending actions: %v %v", acts, err)
	}
	if err := w.e.MarkActions(ctx, []engine.ActionUpdate{{Seq: acts[0].Seq, State: engine.ActionFailed, Error: "webhook down"}}); err != nil {
		t.Fatal(err)
	}

	clock := func() time.Time { return w.now }
	ist, err := incidents.Open(incidents.Options{Dir: t.TempDir(), Feed: w.e, NoSync: true, Clock: clock,
		Correlator: &incidents.EngineCorrelator{Engine: w.e, Clock: clock}})
	if err != nil {
		t.Fatal(err)
	}
	defer ist.Close()
	if err := ist.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	stray, err := ist.List(ctx, incidents.Filter{Reason: "UNKNOWN_MESSAGE"})
	if err != nil || len(stray.Items) != 4 {
		t.Fatalf("UNKNOWN_MESSAGE incidents: %+v %v", stray.Items, err)
	}
	failed, err := ist.List(ctx, incidents.Filter{Reason: "ACTION_FAILED"})
	if err != nil || len(failed.Items) != 1 || failed.Items[0].InstanceKey != acts[0].InstanceKey {
		t.Fatalf("ACTION_FAILED incidents: %+v %v", failed.Items, err)
	}
	actionFailed, owner := failed.Items[0].ID, acts[0].InstanceKey
	resolve := func(id string) {
		t.Helper()
		w.now = w.now.Add(time.Minute)
		if _, err := ist.Resolve(ctx, id, incidents.Actor{Name: "op"}, "checked"); err != nil {
			t.Fatal(err)
		}
	}
	var store *sqlite.Store
	total := 5 // incidents in history
	// check compares history's incident states and the owner's count.
	check := func(what string, resolved []string, ownerOpen int) {
		t.Helper()
		page, err := store.Incidents(ctx, history.IncidentQuery{Limit: history.MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, inc := range page.Items {
			if inc.State == history.IncidentResolved {
				got = append(got, inc.ID)
				want, err := ist.ResolvedIncidents(ctx, []string{inc.ID})
				if err != nil || want[inc.ID].IsZero() || !inc.ResolvedAt.Equal(want[inc.ID]) {
					t.Errorf("%s: incident %s resolved at %s, the store says %v (%v)", what, inc.ID, inc.ResolvedAt, want, err)
				}
			}
		}
		slices.Sort(got)
		resolved = slices.Sorted(slices.Values(resolved))
		if !slices.Equal(got, resolved) {
			t.Errorf("%s: resolved in history %q, want %q", what, got, resolved)
		}
		if len(page.Items) != total {
			t.Errorf("%s: %d incidents in history, want %d", what, len(page.Items), total)
		}
		in, _, err := store.Instance(ctx, owner)
		if err != nil || in.Incidents != ownerOpen {
			t.Errorf("%s: instance %d counts %d open incidents (%v), want %d", what, owner, in.Incidents, err, ownerOpen)
		}
		st, err := store.Statistics(ctx, history.StatisticsQuery{ProcessID: "order-fulfillment"})
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, e := range st.Elements {
			n += e.Incidents
		}
		if n != int64(ownerOpen) {
			t.Errorf("%s: statistics count %d open incidents, want %d", what, n, ownerOpen)
		}
	}

	// Resolved before history has it: written resolved.
	resolve(stray.Items[0].ID)
	store = openStore(t, t.TempDir())
	defer store.Close()
	p := newProjector(t, w.e, store, history.ProjectorOptions{Incidents: ist})
	ist.Watch(p)
	if err := p.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	check("resolved before projection", []string{stray.Items[0].ID}, 1)

	// Resolved later: the store tells the projector.
	resolve(stray.Items[1].ID)
	resolve(actionFailed)
	if err := p.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	check("resolved after projection", []string{stray.Items[0].ID, stray.Items[1].ID, actionFailed}, 0)
	p.IncidentsChanged([]string{actionFailed, "no-such-incident"}) // again: nothing counts twice
	if err := p.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	check("told twice", []string{stray.Items[0].ID, stray.Items[1].ID, actionFailed}, 0)

	// A retry that does not correlate (the message is still unknown): the
	// engine opens an incident for the attempt, which the store folds into
	// the original one, so history has it resolved and the original open.
	if _, err := ist.Retry(ctx, stray.Items[3].ID, incidents.Actor{Name: "op"}, "try again"); err != nil {
		t.Fatal(err)
	}
	if err := p.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	total = 6
	page, err := store.Incidents(ctx, history.IncidentQuery{Limit: history.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	var folded string
	for _, inc := range page.Items {
		if strings.HasPrefix(inc.MessageID, stray.Items[3].MessageID+incidents.RetrySeparator) {
			folded = inc.ID
		}
	}
	if folded == "" {
		t.Fatalf("no incident for the retry of %s in history: %+v", stray.Items[3].ID, page.Items)
	}
	check("retry folded", []string{stray.Items[0].ID, stray.Items[1].ID, actionFailed, folded}, 0)

	// Resolved while nobody listens: the next projector catches up at start.
	ist.Watch(nil)
	resolve(stray.Items[2].ID)
	p2 := newProjector(t, w.e, store, history.ProjectorOptions{Incidents: ist})
	if err := p2.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	all := []string{stray.Items[0].ID, stray.Items[1].ID, stray.Items[2].ID, actionFailed, folded}
	check("after restart", all, 0)

	// The same as projecting the feed afresh now.
	fresh := openStore(t, t.TempDir())
	defer fresh.Close()
	if err := newProjector(t, w.e, fresh, history.ProjectorOptions{Incidents: ist}).Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := dump(t, store), dump(t, fresh); got != want {
		t.Errorf("incrementally resolved history differs from a fresh projection:\n%s\nwant\n%s", got, want)
	}
}
