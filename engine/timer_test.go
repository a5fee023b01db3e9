package engine

import (
	"testing"
	"time"
)

// TestCancelledTimersLazilyDeleted: a delivered order's delay and cancel
// timers stay in the timer index until they come due (no store write on the
// hot path); then Tick drops them without firing anything.
func TestCancelledTimersLazilyDeleted(t *testing.T) {
	h := newHarness(t, "order-fulfillment.bpmn")
	steps := []string{"OrderPlaced", "PaymentReceived", "GoodsFetched", "GoodsShipped", "OrderDelivered"}
	for i, s := range steps {
		h.apply(msg(s, "A-1", s, time.Duration(i)*day24))
	}
	timerKeys := func() int {
		n := 0
		if err := h.e.scan([]byte{pTimer}, func(_, _ []byte) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := timerKeys(); n != 2 {
		t.Fatalf("%d timer index entries after delivery, want the 2 cancelled ones", n)
	}
	h.clock.now = t0.Add(30 * day24)
	res := h.tick(h.clock.now)
	if res.Fired != 0 || len(h.actions()) != 0 {
		t.Errorf("cancelled timers fired: %+v, actions %v", res, h.actions())
	}
	if n := timerKeys(); n != 0 {
		t.Errorf("%d timer index entries after they came due, want 0", n)
	}
}
