package history_test

import (
	"context"
	"testing"
	"time"

	"github.com/tracker-dev/tracker/history"
)

// projected returns a store holding the example traffic for orders 0..n-1.
func projected(t *testing.T, n int) (*world, history.Backend) {
	t.Helper()
	w := newWorld(t)
	w.apply(traffic(0, n))
	store := openStore(t, t.TempDir())
	t.Cleanup(func() { store.Close() })
	if err := newProjector(t, w.e, store, history.ProjectorOptions{}).Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	return w, store
}

func TestServiceSLAState(t *testing.T) {
	w, store := projected(t, 50)
	// The process has tracker.sla P7D; completed orders took four hours.
	for _, tc := range []struct {
		name          string
		now           time.Time
		active, ended string
	}{
		{"early", t0.Add(24 * time.Hour), history.SLAOk, history.SLAOk},
		{"at risk from 80 %", t0.Add(6 * 24 * time.Hour), history.SLAAtRisk, history.SLAOk},
		{"breached", t0.Add(8 * 24 * time.Hour), history.SLABreached, history.SLAOk},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, err := history.NewService(history.ServiceOptions{Backend: store, Processes: w.repo, Clock: func() time.Time { return tc.now }})
			if err != nil {
				t.Fatal(err)
			}
			p, err := svc.Instances(context.Background(), history.InstanceQuery{Limit: history.MaxLimit}, false)
			if err != nil {
				t.Fatal(err)
			}
			for _, in := range p.Items {
				want := tc.active
				if in.State != history.StateActive {
					want = tc.ended
				}
				if in.SLAState != want {
					t.Errorf("%s (%s) slaState = %q, want %q", in.CorrelationKey, in.State, in.SLAState, want)
				}
			}
		})
	}
}

func TestServiceThresholds(t *testing.T) {
	w, store := projected(t, 100)
	svc, err := history.NewService(history.ServiceOptions{Backend: store, Processes: w.repo, Clock: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	ths, err := svc.Thresholds(context.Background(), "order-fulfillment")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]history.Threshold{}
	for _, th := range ths {
		got[th.ElementID] = th
	}
	// SLAs from the model; GoodsFetched has none but 60 completed visits of
	// one hour (orders with i%5 >= 2), so 2 × p95; OrderDelivered has 20, just
	// the default minimum.
	for id, want := range map[string]struct {
		source string
		after  time.Duration
	}{
		"PaymentReceived": {"sla", time.Hour},
		"GoodsShipped":    {"sla", 72 * time.Hour},
		"GoodsFetched":    {"p95", 2 * time.Hour},
		"OrderDelivered":  {"p95", 2 * time.Hour},
	} {
		th, ok := got[id]
		if !ok {
			t.Errorf("no threshold for %s in %+v", id, ths)
			continue
		}
		d := th.After - want.after
		if th.Source != want.source || d < -want.after/50 || d > want.after/50 {
			t.Errorf("%s threshold = %+v, want %s ≈ %s", id, th, want.source, want.after)
		}
		if th.AfterMs != th.After.Milliseconds() {
			t.Errorf("%s afterMs %d != %s", id, th.AfterMs, th.After)
		}
	}
	few, err := history.NewService(history.ServiceOptions{Backend: store, Processes: w.repo, MinSamples: 21})
	if err != nil {
		t.Fatal(err)
	}
	ths, err = few.Thresholds(context.Background(), "order-fulfillment")
	if err != nil {
		t.Fatal(err)
	}
	for _, th := range ths {
		if th.ElementID == "OrderDelivered" {
			t.Errorf("OrderDelivered has 20 samples, MinSamples 21, yet threshold %+v", th)
		}
	}
}

// cleanupSeen reports Cleanup calls.
type cleanupSeen struct {
	history.Backend
	calls chan time.Time
}

func (c *cleanupSeen) Cleanup(ctx context.Context, before time.Time) (history.CleanupResult, error) {
	res, err := c.Backend.Cleanup(ctx, before)
	c.calls <- before
	return res, err
}

func TestProjectorRetention(t *testing.T) {
	w := newWorld(t)
	w.apply(traffic(0, 50))
	store := openStore(t, t.TempDir())
	defer store.Close()
	now := t0.Add(30 * 24 * time.Hour)
	b := &cleanupSeen{Backend: store, calls: make(chan time.Time, 10)}
	p := newProjector(t, w.e, b, history.ProjectorOptions{Retention: 7 * 24 * time.Hour, Clock: func() time.Time { return now }})
	if err := p.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	before := <-b.calls
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if want := now.Add(-7 * 24 * time.Hour); !before.Equal(want) {
		t.Errorf("cleanup before %s, want %s", before, want)
	}
	pg, err := store.Instances(context.Background(), history.InstanceQuery{Limit: history.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range pg.Items {
		if in.State != history.StateActive {
			t.Errorf("finished instance %s survived retention", in.CorrelationKey)
		}
	}
	if len(pg.Items) != 40 { // orders with i%5 == 4 completed
		t.Errorf("%d instances left, want the 40 active ones", len(pg.Items))
	}
}
