package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// gateCommits makes every commit wait until release is called once per
// commit, so a test decides when a batch lands.
func gateCommits(e *Engine) (release func()) {
	gate := make(chan struct{})
	real := e.commitFn
	e.commitFn = func(b *pebble.Batch, wo *pebble.WriteOptions) error {
		<-gate
		return real(b, wo)
	}
	return func() { gate <- struct{}{} }
}

// TestApplyAsyncWhileCommitting builds batch 2 while batch 1 is still
// committing: batch 2 must see batch 1's instances (even those the tiny
// cache evicted) and its message ids, and both land in order.
func TestApplyAsyncWhileCommitting(t *testing.T) {
	h := &harness{t: t, dir: t.TempDir(), procs: &procs{}, clock: &testClock{now: t0}, cache: 2}
	h.procs.deploy(t, "order-fulfillment.bpmn")
	h.open()
	defer h.e.Close()
	release := gateCommits(h.e)
	ctx := context.Background()

	var first []Message
	for i := range 10 {
		first = append(first, msg("OrderPlaced", fmt.Sprint("A-", i), fmt.Sprint("placed-", i), time.Minute))
	}
	p1, err := h.e.ApplyAsync(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	// batch 2 correlates to every order of batch 1 and repeats one id
	var second []Message
	for i := range 10 {
		second = append(second, msg("PaymentReceived", fmt.Sprint("A-", i), fmt.Sprint("paid-", i), 2*time.Minute))
	}
	second = append(second, first[3])
	var (
		wg   sync.WaitGroup
		p2   *Pending
		err2 error
	)
	wg.Go(func() { p2, err2 = h.e.ApplyAsync(ctx, second) })
	time.Sleep(50 * time.Millisecond) // batch 2 is built (and waits to commit) while batch 1 is held
	release()                         // batch 1 lands
	wg.Wait()
	if err2 != nil {
		t.Fatal(err2)
	}
	release() // batch 2 lands
	o1, err := p1.Wait()
	if err != nil {
		t.Fatal(err)
	}
	o2, err := p2.Wait()
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range o1 {
		if o.Result != Started {
			t.Errorf("batch 1 message %d: %s, want started", i, outcome(o))
		}
	}
	for i, o := range o2[:10] {
		if o.Result != Correlated || o.InstanceKey != o1[i].InstanceKey {
			t.Errorf("batch 2 message %d: %s, want correlated to instance %d", i, outcome(o), o1[i].InstanceKey)
		}
	}
	if o := o2[10]; o.Result != Duplicate {
		t.Errorf("id of batch 1 repeated in batch 2: %s, want duplicate", outcome(o))
	}
	// reopened: both batches are in the store
	h.reopen()
	for i := range 10 {
		v, ok, err := h.e.Instance(o1[i].InstanceKey)
		if err != nil || !ok {
			t.Fatalf("instance %d after reopen: %v %v", i, ok, err)
		}
		if len(v.Subscriptions) != 1 || v.Subscriptions[0].MessageName != "GoodsFetched" {
			t.Errorf("instance %d after reopen waits for %+v, want GoodsFetched", i, v.Subscriptions)
		}
	}
}

// TestApplyAsyncCommitFailure: a failed commit fails its batch, the batch
// built on it, and every later call, until the engine is reopened; then it
// resumes from the last durable batch.
func TestApplyAsyncCommitFailure(t *testing.T) {
	h := newHarness(t, "order-fulfillment.bpmn")
	ctx := context.Background()
	if _, err := h.e.Apply(ctx, []Message{msg("OrderPlaced", "A-1", "placed-1", time.Minute)}); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("disk full")
	h.e.commitFn = func(*pebble.Batch, *pebble.WriteOptions) error { return boom }
	p, err := h.e.ApplyAsync(ctx, []Message{msg("PaymentReceived", "A-1", "paid-1", 2*time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Wait(); !errors.Is(err, boom) {
		t.Fatalf("Wait: %v, want %v", err, boom)
	}
	if _, err := h.e.Apply(ctx, []Message{msg("OrderPlaced", "A-2", "placed-2", time.Minute)}); !errors.Is(err, boom) {
		t.Errorf("Apply after a failed commit: %v, want %v", err, boom)
	}
	if _, err := h.e.Tick(ctx, t0); !errors.Is(err, boom) {
		t.Errorf("Tick after a failed commit: %v, want %v", err, boom)
	}
	h.reopen()
	out := h.apply(msg("PaymentReceived", "A-1", "paid-1", 2*time.Minute))
	if out[0].Result != Correlated {
		t.Errorf("after reopen the lost batch applies again: %s, want correlated", outcome(out[0]))
	}
}
