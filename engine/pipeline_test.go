package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
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

// countCommits counts the engine's commits.
func countCommits(e *Engine) *atomic.Int32 {
	var n atomic.Int32
	real := e.commitFn
	e.commitFn = func(b *pebble.Batch, wo *pebble.WriteOptions) error {
		n.Add(1)
		return real(b, wo)
	}
	return &n
}

func placed(n int, prefix string) []Message {
	var ms []Message
	for i := range n {
		ms = append(ms, msg("OrderPlaced", fmt.Sprint(prefix, i), fmt.Sprint(prefix, "placed-", i), time.Minute))
	}
	return ms
}

// TestGroupCommit: with Options.GroupCommit, batches applied with
// ApplyAsync share a commit that starts once they hold that many events or
// when a caller waits for one of them; a later batch sees the earlier ones.
func TestGroupCommit(t *testing.T) {
	h := newGroupHarness(t, 25, "order-fulfillment.bpmn")
	e := h.e
	commits := countCommits(e)
	ctx := context.Background()
	p1, err := e.ApplyAsync(ctx, placed(10, "A-"))
	if err != nil {
		t.Fatal(err)
	}
	var paid []Message
	for i := range 10 {
		paid = append(paid, msg("PaymentReceived", fmt.Sprint("A-", i), fmt.Sprint("paid-", i), 2*time.Minute))
	}
	p2, err := e.ApplyAsync(ctx, paid)
	if err != nil {
		t.Fatal(err)
	}
	if n := commits.Load(); n != 0 {
		t.Fatalf("%d commits after 20 of 25 events, want 0", n)
	}
	o2, err := p2.Wait() // starts the shared commit
	if err != nil {
		t.Fatal(err)
	}
	o1, err := p1.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if n := commits.Load(); n != 1 {
		t.Fatalf("%d commits after waiting, want 1", n)
	}
	for i := range o1 {
		if o1[i].Result != Started || o2[i].Result != Correlated || o2[i].InstanceKey != o1[i].InstanceKey {
			t.Errorf("order %d: %s then %s, want started then correlated", i, outcome(o1[i]), outcome(o2[i]))
		}
	}
	// 30 events reach the threshold: the commit starts without a Wait
	p3, err := e.ApplyAsync(ctx, placed(30, "B-"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p3.Wait(); err != nil {
		t.Fatal(err)
	}
	if n := commits.Load(); n != 2 {
		t.Fatalf("%d commits, want 2", n)
	}
	// an open batch is committed by Close
	if _, err := e.ApplyAsync(ctx, placed(1, "C-")); err != nil {
		t.Fatal(err)
	}
	h.reopen()
	if out := h.apply(placed(1, "C-")...); out[0].Result != Duplicate {
		t.Errorf("batch left open at Close, applied again after reopen: %s, want duplicate", outcome(out[0]))
	}
}

// TestGroupCommitRollback: a batch that fails undoes the batches that share
// its commit; their Pendings fail, the store keeps the last commit's state
// and positions, and the batches apply again as if never seen.
func TestGroupCommitRollback(t *testing.T) {
	h := newGroupHarness(t, 1000, "order-fulfillment.bpmn")
	e := h.e
	first := placed(5, "A-")
	for i := range first {
		first[i].Position = Position{Topic: "orders", Partition: 0, Offset: int64(i)}
	}
	p1, err := e.ApplyAsync(context.Background(), first)
	if err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.ApplyAsync(cancelled, placed(5, "B-")); !errors.Is(err, context.Canceled) {
		t.Fatalf("batch with a cancelled context: %v, want %v", err, context.Canceled)
	}
	if _, err := p1.Wait(); !errors.Is(err, errGroupRolledBack) {
		t.Fatalf("Wait for the batch sharing the failed commit: %v, want %v", err, errGroupRolledBack)
	}
	if pos := e.Positions(); len(pos) != 0 {
		t.Errorf("positions after the rollback: %v, want none", pos)
	}
	out := h.apply(first...)
	for i, o := range out {
		if o.Result != Started {
			t.Errorf("order %d applied again: %s, want started", i, outcome(o))
		}
	}
	if pos := e.Positions()[TopicPartition{Topic: "orders"}]; pos != 5 {
		t.Errorf("position after applying again: %d, want 5", pos)
	}
}

// TestTickWhileCommitting: under group commit a Tick neither waits for the
// batches still open or committing nor sees their keys in the store. A
// timer they armed must fire at a later Tick (no floor may pass it), and a
// timer the Tick fired must not fire again while the Tick's commit is in
// flight.
func TestTickWhileCommitting(t *testing.T) {
	h := newGroupHarness(t, 1000, "order-fulfillment.bpmn")
	e := h.e
	ctx := context.Background()
	h.clock.now = t0.Add(15 * day24)
	h.tick(t0)                                // the first Tick after a deployment lands everything (start timers)
	h.apply(msg("OrderPlaced", "A", "a1", 0)) // landed: its delay notice is due on day 14
	// B's order, also due on day 14, stays in the open group commit
	if _, err := e.ApplyAsync(ctx, []Message{msg("OrderPlaced", "B", "b1", 0)}); err != nil {
		t.Fatal(err)
	}
	// commits wait until release (also on failure, so Close does not hang)
	gate, real := make(chan struct{}), e.commitFn
	e.commitFn = func(b *pebble.Batch, wo *pebble.WriteOptions) error {
		<-gate
		return real(b, wo)
	}
	var once sync.Once
	release := func() { once.Do(func() { close(gate) }) }
	t.Cleanup(release)
	res, err := e.Tick(ctx, h.clock.now)
	if err != nil {
		t.Fatal(err)
	}
	if res.Fired != 1 {
		t.Fatalf("first tick fired %d timers, want 1 (A's; B's is not in the store yet)", res.Fired)
	}
	if f, due := e.floors[floorIndex(pTimer)], t0.Add(14*day24); f.After(due) {
		t.Fatalf("timer floor %s passed B's unlanded timer due %s", f, due)
	}
	// the first tick's commit (with B's batch) is held: A's timer key is
	// still in the store, and must not fire again
	res, err = e.Tick(ctx, h.clock.now)
	if err != nil {
		t.Fatal(err)
	}
	if res.Fired != 0 {
		t.Fatalf("tick during the commit fired %d timers, want 0", res.Fired)
	}
	release()
	h.settle()
	e.commitFn = real
	res = h.tick(h.clock.now)
	if res.Fired != 1 {
		t.Fatalf("tick after the commit fired %d timers, want 1 (B's)", res.Fired)
	}
	if got := h.actions(); len(got) != 2 || got[0] != "SendDelayNoticeCommand" || got[1] != "SendDelayNoticeCommand" {
		t.Fatalf("actions %q, want two delay notices", got)
	}
	if res = h.tick(h.clock.now); res.Fired != 0 {
		t.Fatalf("last tick fired %d timers, want 0", res.Fired)
	}
}

// TestTickFailureUnderGroupCommit: a Tick round that fails under group
// commit rolls back the whole open group, the expiries of an earlier Tick
// that joined it included; they must be found again.
func TestTickFailureUnderGroupCommit(t *testing.T) {
	d := &decider{by: map[Reason]string{}}
	h := &harness{t: t, dir: t.TempDir(), procs: &procs{}, clock: &testClock{now: t0}, dec: d, group: 1000}
	h.procs.deploy(t, "order-fulfillment.bpmn")
	h.open()
	defer h.e.Close()
	ctx := context.Background()
	h.tick(t0)                                    // the first Tick after a deployment lands everything
	h.apply(msg("PaymentReceived", "X", "x1", 0)) // buffered until t0+1h
	h.clock.now = t0.Add(30 * time.Minute)
	h.apply(msg("PaymentReceived", "Y", "y1", 0)) // buffered until t0+90m
	// a batch in the open group commit, writing no buffered message
	pz, err := h.e.ApplyAsync(ctx, []Message{msg("OrderPlaced", "Z", "z1", 0)})
	if err != nil {
		t.Fatal(err)
	}
	h.clock.now = t0.Add(70 * time.Minute)
	res, err := h.e.Tick(ctx, h.clock.now)
	if err != nil || res.Expired != 1 {
		t.Fatalf("first tick: %d expired, %v; want X's expiry", res.Expired, err)
	}
	boom := errors.New("decision table down")
	d.fail = boom
	h.clock.now = t0.Add(100 * time.Minute)
	if _, err := h.e.Tick(ctx, h.clock.now); !errors.Is(err, boom) {
		t.Fatalf("second tick: %v, want %v", err, boom)
	}
	if _, err := pz.Wait(); err == nil {
		t.Fatal("Z's batch shared the rolled-back group commit but did not fail")
	}
	d.fail = nil
	if res := h.tick(h.clock.now); res.Expired != 2 {
		t.Fatalf("tick after the failure expired %d, want 2 (X again, and Y)", res.Expired)
	}
}

// TestApplyRollbackAfterLazyTick: an ApplyAsync that fails rolls back its
// whole open group, with the timer a lazy Tick fired in it; the timer must
// fire again at the next Tick (found by review: the floors stayed raised).
func TestApplyRollbackAfterLazyTick(t *testing.T) {
	h := newGroupHarness(t, 1000, "order-fulfillment.bpmn")
	e := h.e
	ctx := context.Background()
	h.clock.now = t0.Add(15 * day24)
	h.tick(t0)
	h.apply(msg("OrderPlaced", "A", "a1", 0)) // landed: delay notice due day 14
	// a batch in the open group that writes no timer (a timer would lower the floor)
	pb, err := e.ApplyAsync(ctx, []Message{msg("PaymentReceived", "B", "b1", 0)})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := e.Tick(ctx, h.clock.now); err != nil || res.Fired != 1 {
		t.Fatalf("first tick fired %d, %v; want A's notice", res.Fired, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := e.ApplyAsync(cctx, []Message{msg("PaymentReceived", "C", "c1", 0)}); err == nil {
		t.Fatal("ApplyAsync with a cancelled context succeeded")
	}
	if _, err := pb.Wait(); err == nil {
		t.Fatal("B shared the rolled-back group commit but did not fail")
	}
	if res := h.tick(h.clock.now); res.Fired != 1 {
		t.Fatalf("tick after the rollback fired %d, want 1 (A's notice again)", res.Fired)
	}
}
