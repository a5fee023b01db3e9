package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"testing"
	"time"
)

// randomStream builds events for n orders of the shared example: each order
// gets its five events with increasing event times; then events are dropped,
// duplicated (same id) and shuffled within a window, and a few unknown and
// invalid messages are mixed in.
func randomStream(r *rand.Rand, n int) []Message {
	var out []Message
	for o := range n {
		key := "o" + strconv.Itoa(o)
		at := time.Duration(r.IntN(3600)) * time.Second
		for s, name := range orderSteps {
			at += time.Duration(1+r.IntN(48)) * time.Hour
			if r.IntN(10) == 0 && s > 0 {
				continue // dropped
			}
			m := msg(name, key, key+"/"+strconv.Itoa(s), at)
			m.BufferTTL = time.Duration(r.IntN(3)) * time.Hour
			out = append(out, m)
			if r.IntN(12) == 0 {
				out = append(out, m) // duplicate
			}
		}
		switch r.IntN(20) {
		case 0:
			out = append(out, msg("Heartbeat", key, key+"/hb", at))
		case 1:
			out = append(out, Message{ID: key + "/bad", Invalid: ReasonDecodeError, Detail: "invalid JSON at byte 3", EventTime: t0})
		}
	}
	// shuffle within a window of 8: other partitions lag a little
	for i := range out {
		j := i + r.IntN(8)
		if j < len(out) {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out
}

var validResults = map[Result]bool{Started: true, Correlated: true, Buffered: true, Duplicate: true, Uncorrelated: true}

// checkRandom feeds a random stream in random batches with ticks in between
// and checks the engine's invariants.
//
// grouped: batches go through ApplyAsync under group commit (100 events per
// commit) and are waited for only now and then, so Ticks run while batches
// are open or committing (a Tick then neither waits for them nor sees
// their keys in the store).
func checkRandom(t *testing.T, seed uint64, orders, cache int, pipelined, grouped bool) (outcomes []Outcome, views map[int64]InstanceView) {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	h := &harness{t: t, dir: t.TempDir(), procs: &procs{}, clock: &testClock{now: t0}, cache: cache}
	if grouped {
		h.group = 100
	}
	h.procs.deploy(t, "order-fulfillment.bpmn")
	h.open()
	t.Cleanup(func() { h.e.Close() })
	stream := randomStream(r, orders)
	counts := map[Result]int{}
	var wm time.Time
	check := func(b []Message, outs []Outcome) {
		if len(outs) != len(b) {
			t.Fatalf("batch of %d got %d outcomes", len(b), len(outs))
		}
		for j, o := range outs {
			if !validResults[o.Result] {
				t.Fatalf("message %q: invalid result %q", b[j].ID, o.Result)
			}
			if (o.Result == Uncorrelated) != (o.Decision != nil) || (o.Result == Uncorrelated && o.Reason == "") {
				t.Fatalf("message %q: uncorrelated without reason or decision: %+v", b[j].ID, o)
			}
			if (o.Result == Started || o.Result == Correlated) && o.InstanceKey == 0 {
				t.Fatalf("message %q: %s without instance key", b[j].ID, o.Result)
			}
			counts[o.Result]++
			outcomes = append(outcomes, o)
			if b[j].EventTime.After(wm) {
				wm = b[j].EventTime
			}
		}
	}
	// pipelined: batch i+1 is applied while batch i commits (ApplyAsync)
	var prev *Pending
	var prevBatch []Message
	settle := func() {
		if prev == nil {
			return
		}
		outs, err := prev.Wait()
		if err != nil {
			t.Fatal(err)
		}
		check(prevBatch, outs)
		prev = nil
	}
	type pendingBatch struct {
		p *Pending
		b []Message
	}
	var open []pendingBatch
	waitOpen := func() {
		for _, pb := range open {
			outs, err := pb.p.Wait()
			if err != nil {
				t.Fatal(err)
			}
			check(pb.b, outs)
		}
		open = open[:0]
	}
	for i := 0; i < len(stream); {
		n := 1 + r.IntN(50)
		if i+n > len(stream) {
			n = len(stream) - i
		}
		b := append([]Message(nil), stream[i:i+n]...)
		if grouped {
			p, err := h.e.ApplyAsync(context.Background(), b)
			if err != nil {
				t.Fatal(err)
			}
			open = append(open, pendingBatch{p, b})
			if r.IntN(6) == 0 {
				waitOpen()
			}
		} else if pipelined {
			p, err := h.e.ApplyAsync(context.Background(), b)
			if err != nil {
				t.Fatal(err)
			}
			settle()
			prev, prevBatch = p, b
		} else {
			check(b, h.apply(b...))
		}
		i += n
		if r.IntN(4) == 0 {
			settle()
			h.clock.now = h.clock.now.Add(time.Duration(r.IntN(90)) * time.Minute)
			if grouped {
				if _, err := h.e.Tick(context.Background(), wm.Add(-time.Duration(r.IntN(48))*time.Hour)); err != nil {
					t.Fatal(err)
				}
			} else {
				h.tick(wm.Add(-time.Duration(r.IntN(48)) * time.Hour))
			}
		}
	}
	settle()
	waitOpen()
	// drain: everything held is released, everything buffered expires
	h.clock.now = h.clock.now.Add(6 * day24)
	h.tick(wm.Add(30 * day24))

	ch, err := h.e.Feed(0, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	started, messages := 0, 0
	keys := map[int64]bool{}
	for i, c := range ch {
		if c.Seq != uint64(i+1) {
			t.Fatalf("feed seq %d at index %d: gap", c.Seq, i)
		}
		switch c.Kind {
		case ChangeInstanceStarted:
			started++
			keys[c.InstanceKey] = true
		case ChangeMessage:
			messages++
		}
	}
	if started != counts[Started] {
		t.Errorf("feed has %d instance-started, outcomes say %d", started, counts[Started])
	}
	if messages < len(stream) {
		t.Errorf("feed has %d message entries for %d messages", messages, len(stream))
	}
	// at most one instance per order, and every one ended or waits
	views = map[int64]InstanceView{}
	byKey := map[string]int{}
	for k := range keys {
		v, ok, err := h.e.Instance(k)
		if err != nil || !ok {
			t.Fatalf("instance %d: ok=%v err=%v", k, ok, err)
		}
		views[k] = v
		byKey[v.CorrelationKey]++
		if v.State == InstanceActive && len(v.Subscriptions)+len(v.Timers) == 0 {
			t.Errorf("instance %d (%s) is active but waits for nothing: %s", k, v.CorrelationKey, path(v))
		}
	}
	for ck, n := range byKey {
		if n > 1 {
			t.Errorf("%d instances for %s", n, ck)
		}
	}
	// reopen: identical state
	h.reopen()
	for k, v := range views {
		v2, ok, err := h.e.Instance(k)
		if err != nil || !ok {
			t.Fatalf("after reopen: instance %d: ok=%v err=%v", k, ok, err)
		}
		if !reflect.DeepEqual(v, v2) {
			t.Fatalf("instance %d differs after reopen:\n%+v\n%+v", k, v, v2)
		}
	}
	ch2, _ := h.e.Feed(0, 1<<30)
	if len(ch2) != len(ch) {
		t.Errorf("feed has %d entries after reopen, %d before", len(ch2), len(ch))
	}
	// a month later: timers have fired, ended instances are cleaned up
	h.clock.now = h.clock.now.Add(30 * day24)
	h.tick(h.clock.now)
	h.clock.now = h.clock.now.Add(8 * day24) // past the retention of those ended just now
	h.tick(h.clock.now)
	for k := range views {
		v, ok, err := h.e.Instance(k)
		if err != nil {
			t.Fatal(err)
		}
		if ok && v.State != InstanceActive {
			t.Errorf("instance %d ended %s but was not cleaned up", k, v.EndedAt)
		}
		if ok && len(v.Timers) > 0 {
			t.Errorf("instance %d still has timers a month later: %+v", k, v.Timers)
		}
	}
	return outcomes, views
}

func TestRandomStreams(t *testing.T) {
	for seed := range uint64(6) {
		t.Run("seed"+strconv.FormatUint(seed, 10), func(t *testing.T) { checkRandom(t, seed, 150, 0, false, false) })
	}
	// a cache far smaller than the working set: evictions, reloads and
	// prefetches must not change any outcome
	for seed := range uint64(3) {
		t.Run("small-cache-seed"+strconv.FormatUint(seed, 10), func(t *testing.T) {
			o1, v1 := checkRandom(t, seed, 150, 0, false, false)
			o2, v2 := checkRandom(t, seed, 150, 8, false, false)
			if !reflect.DeepEqual(o1, o2) {
				t.Error("outcomes differ between a large and a small cache")
			}
			if !reflect.DeepEqual(v1, v2) {
				t.Error("instances differ between a large and a small cache")
			}
		})
	}
	// ApplyAsync: each batch is built while the one before commits; with a
	// tiny cache, groups the committing batch wrote must not be evicted and
	// read back stale, and its message ids must still deduplicate
	for seed := range uint64(3) {
		for _, cache := range []int{0, 8} {
			t.Run(fmt.Sprintf("pipelined-seed%d-cache%d", seed, cache), func(t *testing.T) {
				o1, v1 := checkRandom(t, seed, 150, 0, false, false)
				o2, v2 := checkRandom(t, seed, 150, cache, true, false)
				if !reflect.DeepEqual(o1, o2) {
					t.Error("outcomes differ between Apply and pipelined ApplyAsync")
				}
				if !reflect.DeepEqual(v1, v2) {
					t.Error("instances differ between Apply and pipelined ApplyAsync")
				}
			})
		}
	}
}

// TestRandomStreamsGrouped: Ticks while batches are open or committing
// under group commit; every invariant holds and reopening changes nothing.
func TestRandomStreamsGrouped(t *testing.T) {
	for seed := range uint64(6) {
		for _, cache := range []int{0, 8} {
			t.Run(fmt.Sprintf("seed%d-cache%d", seed, cache), func(t *testing.T) { checkRandom(t, seed, 150, cache, false, true) })
		}
	}
}

// FuzzStream runs the invariant check on fuzzer-chosen seeds and sizes.
func FuzzStream(f *testing.F) {
	f.Add(uint64(1), uint8(10))
	f.Add(uint64(42), uint8(60))
	f.Fuzz(func(t *testing.T, seed uint64, n uint8) {
		checkRandom(t, seed, int(n)%80+1, int(n)%3*8, n%2 == 1, n%4 == 3)
	})
}
