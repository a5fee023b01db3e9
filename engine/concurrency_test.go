package engine

import (
	"context"
	"strconv"
	"sync"
	"testing"
)

// TestConcurrentReaders runs feed, outbox and instance readers while batches
// are applied and ticks fire; run it with -race.
func TestConcurrentReaders(t *testing.T) {
	h := newHarness(t, "order-fulfillment.bpmn")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var seen uint64
	wg.Add(1)
	go func() {
		defer wg.Done()
		next := uint64(1)
		for ctx.Err() == nil {
			wait := h.e.FeedNotify()
			ch, err := h.e.Feed(next, 500)
			if err != nil {
				t.Error(err)
				return
			}
			for _, c := range ch {
				if c.Seq != next {
					t.Errorf("feed seq %d, want %d", c.Seq, next)
					return
				}
				next++
				if c.InstanceKey != 0 {
					if _, _, err := h.e.Instance(c.InstanceKey); err != nil {
						t.Error(err)
					}
				}
			}
			if _, err := h.e.PendingActions(0, 100); err != nil {
				t.Error(err)
			}
			if len(ch) == 0 {
				select {
				case <-wait:
				case <-ctx.Done():
				}
			}
		}
		seen = next - 1
	}()
	for i := range 40 {
		var b []Message
		for j := range 25 {
			key := "k" + strconv.Itoa(i*25+j)
			b = append(b, msg("OrderPlaced", key, key, 0))
		}
		if _, err := h.e.Apply(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			h.tick(t0)
		}
	}
	cancel()
	wg.Wait()
	if seen == 0 {
		t.Error("the reader saw no feed entries")
	}
}
