package incidents

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tracker-dev/tracker/engine"
)

// recorder is a Watcher that keeps what it was told.
type recorder struct {
	mu  sync.Mutex
	ids []string
}

func (r *recorder) IncidentsChanged(ids []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = append(r.ids, ids...)
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.ids
	r.ids = nil
	return out
}

// TestWatcherAndResolvedIncidents: every way an incident gets resolved
// (operator, retry that correlates, re-queued action) tells the watcher its
// id once, and ResolvedIncidents reports it with its resolution time; open
// incidents tell nothing. A retry that does not correlate leaves the
// incident open; the engine's incident for the attempt, folded into it,
// counts as resolved when opened.
func TestWatcherAndResolvedIncidents(t *testing.T) {
	ev := readEvents(t)
	resolvedAt := func(t *testing.T, h *harness, ids ...string) map[string]time.Time {
		t.Helper()
		got, err := h.store.ResolvedIncidents(h.ctx, append(ids, "no-such-incident"))
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	check := func(t *testing.T, h *harness, w *recorder, id string) {
		t.Helper()
		if got := w.take(); !slices.Equal(got, []string{id}) {
			t.Errorf("watcher told %q, want [%q]", got, id)
		}
		inc, err := h.store.Get(h.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		got := resolvedAt(t, h, id)
		if len(got) != 1 || !got[id].Equal(inc.ResolvedAt) || inc.ResolvedAt.IsZero() {
			t.Errorf("ResolvedIncidents = %v, want %s at %s", got, id, inc.ResolvedAt)
		}
	}

	t.Run("operator resolves", func(t *testing.T) {
		h := newHarness(t, false)
		w, inc := h.watchedIncident(ev["e-1"])
		if got := resolvedAt(t, h, inc.ID); len(got) != 0 || len(w.take()) != 0 {
			t.Fatalf("open incident: ResolvedIncidents = %v", got)
		}
		h.clock.Add(time.Minute)
		if _, err := h.store.Resolve(h.ctx, inc.ID, ops, "known stray"); err != nil {
			t.Fatal(err)
		}
		check(t, h, w, inc.ID)
	})

	t.Run("retry correlates", func(t *testing.T) {
		h := newHarness(t, false)
		w, inc := h.watchedIncident(ev["e-1"])
		if _, err := h.store.Retry(h.ctx, inc.ID, ops, "too early"); err != nil {
			t.Fatal(err)
		}
		// The engine opened an incident for the attempt, which the store
		// folds into this one: resolved when opened.
		folded := w.take()
		if len(folded) != 1 || folded[0] == inc.ID {
			t.Fatalf("retry that stays open told %q, want the id of the engine's incident for the attempt", folded)
		}
		if got := resolvedAt(t, h, folded[0]); len(got) != 1 || !got[folded[0]].Equal(h.clock.Now().UTC()) {
			t.Errorf("folded incident: ResolvedIncidents = %v, want %s at %s", got, folded[0], h.clock.Now().UTC())
		}
		if open, _ := h.store.Get(h.ctx, inc.ID); open.State != StateOpen {
			t.Fatalf("incident %s is %s after a retry that did not correlate", inc.ID, open.State)
		}
		h.deploy()
		res, err := h.store.Retry(h.ctx, inc.ID, ops, "model deployed")
		if err != nil || res.Outcome.Result != engine.Started {
			t.Fatalf("retry after deploy: %+v %v", res.Outcome, err)
		}
		check(t, h, w, inc.ID)
	})

	t.Run("action re-queued", func(t *testing.T) {
		h := newHarness(t, true)
		h.store.Close()
		h.store = h.open(Options{Actions: h.eng})
		w := &recorder{}
		h.store.Watch(w)
		inc := h.failedAction("webhook down")
		if _, err := h.store.Retry(h.ctx, inc.ID, ops, "webhook is back"); err != nil {
			t.Fatal(err)
		}
		check(t, h, w, inc.ID)
	})

	t.Run("no watcher", func(t *testing.T) {
		h := newHarness(t, false)
		h.store.Watch(nil)
		h.send(ev["e-1"])
		h.sync()
		inc := h.only(Filter{})
		if _, err := h.store.Resolve(h.ctx, inc.ID, ops, "known stray"); err != nil {
			t.Fatal(err)
		}
		if got := resolvedAt(t, h, inc.ID); len(got) != 1 {
			t.Errorf("ResolvedIncidents = %v", got)
		}
	})
}
