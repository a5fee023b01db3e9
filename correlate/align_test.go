package correlate

import (
	"context"
	"testing"
	"time"

	"github.com/tracker-dev/tracker/engine"
)

// TestAlignerHoldsTheLeader drives the aligner directly: a lagging partition
// more than slack ahead of another lagging one waits until that one catches
// up, records within slack pass at once (the fast path), and a partition
// without lag neither waits nor holds anyone.
func TestAlignerHoldsTheLeader(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	a := newAligner(time.Second, time.Hour) // never gives up waiting within the test
	ctx := context.Background()
	pa, pb, pc := engine.TopicPartition{Topic: "orders", Partition: 0}, engine.TopicPartition{Topic: "payments", Partition: 0}, engine.TopicPartition{Topic: "shipping", Partition: 0}
	a.wait(ctx, pb, t0, true) // the only lagging partition: passes at once
	a.wait(ctx, pa, t0.Add(500*time.Millisecond), true)
	a.wait(ctx, pc, t0.Add(time.Hour), false) // no lag: never held

	done := make(chan struct{})
	go func() {
		a.wait(ctx, pa, t0.Add(10*time.Second), true) // 10 s ahead of B: held
		close(done)
	}()
	a.wait(ctx, pb, t0.Add(2*time.Second), true) // B moves, still more than 1 s behind A's record
	select {
	case <-done:
		t.Fatal("A's record passed while B was 8 s behind it")
	default:
	}
	a.wait(ctx, pb, t0.Add(9500*time.Millisecond), true) // within slack of A's record: A goes on
	<-done

	a.mu.Lock()
	defer a.mu.Unlock()
	if want := t0.Add(9500 * time.Millisecond); !a.min.Equal(want) {
		t.Errorf("least mark %s, want %s", a.min, want)
	}
	if _, ok := a.at[pc]; ok {
		t.Error("a partition without lag is registered")
	}
}
