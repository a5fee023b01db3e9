package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/golang/snappy"
)

// tickBatch bounds how many timers / messages one Tick commit handles.
const tickBatch = 5000

// maxTickRounds bounds the rounds of one Tick.
const maxTickRounds = 10_000

type tickItem struct {
	kind   byte // pTimer, pHeld, pExpiry
	at     time.Time
	key    []byte
	ck     string
	inst   int64
	elem   int64
	target string
	id     string
}

// Tick fires timers due at or before min(clock now, watermark), releases
// messages held for skip-ahead whose event time the watermark has passed, and
// expires buffered messages whose TTL has passed (by the clock), in event-time
// order; then removes expired dedupe keys and ended instances past retention.
// Each round of up to 5,000 items is one atomic batch.
func (e *Engine) Tick(ctx context.Context, watermark time.Time) (TickResult, error) {
	var res TickResult
	// Under group commit a Tick does not stop the pipeline: its rounds join
	// the open group commit, which it starts without waiting for it to land.
	lazy := e.opts.GroupCommit > 0
	e.mu.Lock()
	e.tickWrote = false
	e.mu.Unlock()
	for rounds := 1; ; rounds++ {
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("tick: %w", err)
		}
		// Firing can arm timers that are due already (cycles, chains), so
		// rounds go on until one finds nothing; the cap guards against a
		// zero-length cycle. The lock is released between rounds, so a
		// long Tick does not stall Apply.
		done, chained, err := e.tickRound(ctx, watermark, &res, rounds >= maxTickRounds, lazy)
		if err != nil || done {
			return res, err
		}
		lazy = lazy && !chained
	}
}

// tickRound handles up to tickBatch due items of each kind in one batch and
// reports whether nothing was left.
func (e *Engine) tickRound(ctx context.Context, watermark time.Time, res *TickResult, final, lazy bool) (bool, bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return true, false, ErrClosed
	}
	if e.failed != nil {
		return true, false, e.failed
	}
	if !lazy {
		if err := e.usable(); err != nil {
			return true, false, err
		}
	}
	e.refreshProcs()
	now := e.clock()
	if e.procs.sig != e.startSig {
		lazy = false // rare (a deployment): this round lands everything first
		t := e.begin(ctx)
		if err := t.syncStartTimers(now); err != nil {
			t.rollback()
			return true, false, err
		}
		if err := t.commit(); err != nil {
			return true, false, err
		}
		e.startSig = e.procs.sig
	}
	// A lazy round does not wait for the batches still committing: it
	// scans the store without their keys, so floors stay at or before the
	// earliest key they wrote, and it skips the keys earlier lazy rounds
	// deleted in commits that have not landed.
	var pend [4]time.Time
	if lazy {
		pend = e.unlandedLow()
	}
	limit := now
	if watermark.Before(limit) {
		limit = watermark
	}
	var items []tickItem
	cutoff := time.Time{}
	for _, k := range []struct {
		prefix byte
		upTo   time.Time
	}{{pTimer, limit}, {pHeld, watermark}, {pExpiry, now}} {
		before := len(items)
		var err error
		if items, err = e.dueItems(items, k.prefix, k.upTo); err != nil {
			return true, false, fmt.Errorf("tick: scan due items: %w", err)
		}
		// A kind that filled its quota may have more items right after its
		// last one: keep event-time order by not going past it this round.
		if n := len(items) - before; n == tickBatch {
			if last := items[len(items)-1].at; cutoff.IsZero() || last.Before(cutoff) {
				cutoff = last
			}
		}
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].at.Before(items[j].at) })
	if !cutoff.IsZero() {
		n := sort.Search(len(items), func(i int) bool { return items[i].at.After(cutoff) })
		items = items[:n]
	}
	var t *txn
	switch {
	case !lazy:
		t = e.begin(ctx)
	case e.open != nil: // the round joins the open group commit
		t = e.open
		t.ctx = ctx
	default:
		t = e.beginAsync(ctx)
	}
	n0, feed0 := len(t.b.ents), t.feed
	// Every item before the new floors is handled (and its key deleted) by
	// this round, so the next scans start there instead of wading through
	// the deleted keys (tombstones) at the front of each range. Keys the
	// round writes lower the floors again (lowerFloor); a rollback restores
	// them.
	floors := e.floors
	for _, k := range []struct {
		prefix byte
		upTo   time.Time
	}{{pTimer, limit}, {pHeld, watermark}, {pExpiry, now}} {
		f := k.upTo
		if !cutoff.IsZero() && cutoff.Before(f) {
			f = cutoff
		}
		if !f.IsZero() {
			e.floors[floorIndex(k.prefix)] = earliest(f, pend[floorIndex(k.prefix)])
		}
	}
	e.ticking, e.tickLow = lazy, [4]time.Time{}
	defer func() { e.ticking = false }()
	fail := func(err error) (bool, bool, error) {
		e.floors = floors
		t.rollback() // resets the floors if it undid lazy rounds' deletes
		return true, false, err
	}
	if err := t.prefetch(items); err != nil {
		return fail(err)
	}
	for _, it := range items {
		t.tickItem(it, res)
		if t.err != nil {
			return fail(t.err)
		}
		if lazy {
			k := string(it.key)
			e.tickDel[k] = struct{}{}
			t.tickDel = append(t.tickDel, k)
		}
	}
	last := len(items) == 0 || final
	if last {
		if err := t.cleanup(now, pend); err != nil {
			return fail(err)
		}
	}
	// A lazy round that armed an item due already (a timer chain or cycle,
	// a released message held again) cannot see it in the store before
	// its commit lands: the rounds after it land everything first.
	chained := false
	if lazy {
		for i, upTo := range [4]time.Time{limit, watermark, now, now} {
			if at := e.tickLow[i]; !at.IsZero() && !at.After(upTo) {
				chained = true
			}
		}
	}
	if len(t.b.ents) > n0 || t.feed > feed0 || chained {
		e.tickWrote = true
	}
	switch {
	case !lazy:
		if err := t.commit(); err != nil {
			return true, false, err
		}
	case e.tickWrote:
		e.open = t
		// Start the commit, without waiting for it here, when the rounds
		// after this one must see its keys, or when no applied batch shares
		// it (their callers start it: a full group, or a Wait).
		if chained || last && t.events == 0 {
			e.tickWrote = false
			if err := e.flush(); err != nil {
				return true, false, err
			}
		}
	case e.open != t: // nothing written: the txn begun for the round stays unused
		e.syms.b = nil
	}
	if last {
		next, err := e.firstTimer()
		if err != nil {
			return true, false, err
		}
		// (timers of batches not landed are not counted: the periodic
		// Tick after they land fires them)
		e.nextDue, res.NextDue = next, next
	}
	return last, chained, nil
}

func (e *Engine) dueItems(items []tickItem, prefix byte, upTo time.Time) ([]tickItem, error) {
	if upTo.IsZero() {
		return items, nil
	}
	upper := ts([]byte{prefix}, upTo.Add(time.Nanosecond))
	it, err := e.db.NewIter(&pebble.IterOptions{LowerBound: e.floorKey(prefix), UpperBound: upper})
	if err != nil {
		return items, err
	}
	n := 0
	for it.First(); it.Valid() && n < tickBatch; it.Next() {
		if len(e.tickDel) > 0 {
			if _, ok := e.tickDel[string(it.Key())]; ok {
				continue // handled by a Tick whose commit has not landed
			}
		}
		k := append([]byte(nil), it.Key()...)
		if len(k) < 9 {
			it.Close()
			return items, fmt.Errorf("%w: index key %q", errCorrupt, k)
		}
		ti := tickItem{kind: prefix, at: readTS(k[1:9]), key: k}
		switch prefix {
		case pTimer:
			if len(k) < 25 {
				it.Close()
				return items, fmt.Errorf("%w: timer key %q", errCorrupt, k)
			}
			ti.inst = int64(beU64(k[9:17]))
			ti.elem = int64(beU64(k[17:25]))
			ti.target = string(k[25:])
			v, err := it.ValueAndErr()
			if err != nil {
				it.Close()
				return items, err
			}
			ti.ck = string(v)
		default:
			ck, id := splitCK(k)
			ti.ck, ti.id = ck, string(id)
		}
		items = append(items, ti)
		n++
	}
	return items, it.Close()
}

// floorIndex is the index in Engine.floors of a key range that Tick scans
// by time.
func floorIndex(prefix byte) int {
	switch prefix {
	case pTimer:
		return 0
	case pHeld:
		return 1
	case pExpiry:
		return 2
	default: // pCleanup
		return 3
	}
}

// floorKey is where a scan of a due-item range starts: no key of the range
// is before the range's floor.
func (e *Engine) floorKey(prefix byte) []byte {
	if f := e.floors[floorIndex(prefix)]; !f.IsZero() {
		return ts([]byte{prefix}, f)
	}
	return []byte{prefix}
}

// lowerFloor records that a key at `at` is written to a due-item range.
func (e *Engine) lowerFloor(prefix byte, at time.Time) {
	if f := &e.floors[floorIndex(prefix)]; !f.IsZero() && at.Before(*f) {
		*f = at
	}
}

// lowerFloor records that the txn writes a key at `at` to a due-item range:
// until the txn lands, a Tick that does not wait for it cannot see the key,
// so no floor may pass it (unlandedLow).
func (t *txn) lowerFloor(prefix byte, at time.Time) {
	i := floorIndex(prefix)
	t.low[i] = earliest(t.low[i], at)
	if t.e.ticking {
		t.e.tickLow[i] = earliest(t.e.tickLow[i], at)
	}
	t.e.lowerFloor(prefix, at)
}

// earliest is the earlier of two times, a zero time meaning none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}

// unlandedLow is, per due-item range, the earliest key written by batches
// whose commit has not landed (the open group and the commit in flight):
// a store scan may not see them. A commit that lands while the caller
// scans only makes this conservative.
func (e *Engine) unlandedLow() [4]time.Time {
	var low [4]time.Time
	if t := e.inflight; t != nil {
		select {
		case <-t.cs.done:
			e.land()
		default:
			low = t.low
		}
	}
	if t := e.open; t != nil {
		for i := range low {
			low[i] = earliest(low[i], t.low[i])
		}
	}
	return low
}

func (e *Engine) firstTimer() (time.Time, error) {
	it, err := e.db.NewIter(&pebble.IterOptions{LowerBound: e.floorKey(pTimer), UpperBound: []byte{pTimer + 1}})
	if err != nil {
		return time.Time{}, err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		if _, ok := e.tickDel[string(it.Key())]; ok {
			continue
		}
		if len(it.Key()) >= 9 {
			return readTS(it.Key()[1:9]), nil
		}
		break
	}
	return time.Time{}, nil
}

func (t *txn) tickItem(it tickItem, res *TickResult) {
	t.b.Delete(it.key, nil)
	if it.kind == pTimer && it.inst == 0 {
		t.fireStartTimer(it, res)
		return
	}
	g, err := t.group(it.ck, false)
	if err != nil {
		t.fail(err)
		return
	}
	if g == nil {
		return
	}
	switch it.kind {
	case pTimer:
		in := g.instance(it.inst)
		if in == nil || in.state != InstanceActive {
			return
		}
		ei := in.elem(it.elem)
		if ei == nil || ei.state != ElementActive {
			return
		}
		for _, tr := range ei.trigs {
			if tr.msg == "" && tr.target == it.target && tr.due == stampOf(it.at) {
				p, err := t.e.process(in.pid, in.ver)
				if err != nil {
					t.e.log.Warn("timer of an instance of an undeployed model dropped", "instance", in.key, "err", err)
					return
				}
				r := t.newRun(g, in, p, tr.due.time(), nil)
				r.timer = true
				r.fire(ei, tr, nil)
				r.finish()
				t.freeRun(r)
				res.Fired++
				return
			}
		}
	case pHeld, pExpiry:
		for i, bm := range g.msgs {
			if bm.m.ID != it.id || bm.held != (it.kind == pHeld) {
				continue
			}
			g.msgs = append(g.msgs[:i], g.msgs[i+1:]...)
			g.dirty = true
			m := bm.m
			var out Outcome
			if it.kind == pHeld {
				var in *instance
				t.route(&m, true, &out, &in)
				t.messageChange(&m, &out, in)
				res.Released++
			} else {
				t.uncorrelated(&m, ReasonBufferExpired, g, &out)
				t.messageChange(&m, &out, nil)
				res.Expired++
			}
			res.Outcomes = append(res.Outcomes, out)
			return
		}
	}
}

// cleanup removes dedupe keys older than the retention and ended instances
// whose retention passed.
func (t *txn) cleanup(now time.Time, pend [4]time.Time) error {
	e := t.e
	first := day(now.Add(-e.opts.DedupeRetention))
	drop := false
	for d := range e.dedupe {
		if d < first {
			delete(e.dedupe, d)
			drop = true
		}
	}
	if drop {
		t.b.DeleteRange([]byte{pDedupe}, dedupeKey(first, ""), nil)
	}
	upper := ts([]byte{pCleanup}, now.Add(time.Nanosecond))
	it, err := e.db.NewIter(&pebble.IterOptions{LowerBound: e.floorKey(pCleanup), UpperBound: upper})
	if err != nil {
		return err
	}
	var keys [][]byte
	for it.First(); it.Valid() && len(keys) < tickBatch; it.Next() {
		if _, ok := e.tickDel[string(it.Key())]; ok {
			continue // removed by a Tick whose commit has not landed
		}
		keys = append(keys, append([]byte(nil), it.Key()...))
	}
	if err := it.Close(); err != nil {
		return err
	}
	// every key before the floor is deleted below (tickRound restores the
	// floor if the round fails)
	if len(keys) < tickBatch {
		e.floors[floorIndex(pCleanup)] = earliest(now, pend[floorIndex(pCleanup)])
	} else if k := keys[len(keys)-1]; len(k) >= 9 {
		e.floors[floorIndex(pCleanup)] = earliest(readTS(k[1:9]), pend[floorIndex(pCleanup)])
	}
	for _, k := range keys {
		t.b.Delete(k, nil)
		if e.ticking {
			e.tickDel[string(k)] = struct{}{}
			t.tickDel = append(t.tickDel, string(k))
		}
		ck, rest := splitCK(k)
		if len(rest) != 8 {
			continue
		}
		key := int64(beU64(rest))
		g, err := t.group(ck, false)
		if err != nil {
			return err
		}
		if g == nil {
			continue
		}
		for i, in := range g.insts {
			if in.key == key && in.state != InstanceActive {
				g.insts = append(g.insts[:i], g.insts[i+1:]...)
				g.dirty = true
				t.b.Delete(instanceKey(key), nil)
				break
			}
		}
	}
	return nil
}

// Instance reads one instance: its state, path (element instances in the
// order entered), variables, open subscriptions and pending timers. Ended
// instances stay readable until their retention passes.
func (e *Engine) Instance(key int64) (InstanceView, bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return InstanceView{}, false, ErrClosed
	}
	e.settle() // an instance the committing batch started is read back from the store
	v, found, err := get(e.db, instanceKey(key))
	if err != nil || !found {
		return InstanceView{}, false, err
	}
	ck := string(v)
	g := e.cache[ck]
	if g == nil {
		b, found, err := get(e.db, groupKey(ck))
		if err != nil || !found {
			return InstanceView{}, false, err
		}
		if g, err = decodeGroup(b, e.syms); err != nil {
			return InstanceView{}, false, fmt.Errorf("read instance %d: %w", key, err)
		}
	}
	in := g.instance(key)
	if in == nil {
		return InstanceView{}, false, nil
	}
	done, err := decodeDoneElems(in.done, in.start, in.key, e.syms)
	if err != nil {
		return InstanceView{}, false, fmt.Errorf("read instance %d: %w", key, err)
	}
	return e.view(in, done), true, nil
}

// mergeElems merges two lists of element instances sorted by key.
func mergeElems(a, b []*elemInst) []*elemInst {
	if len(b) == 0 {
		return a
	}
	out := make([]*elemInst, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if a[0].key < b[0].key {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return append(append(out, a...), b...)
}

// view renders an instance; done are its archived element instances.
func (e *Engine) view(in *instance, done []*elemInst) InstanceView {
	vars, _ := json.Marshal(in.vars)
	if in.vars == nil {
		vars = []byte("{}")
	}
	iv := InstanceView{
		Key: in.key, ProcessID: in.pid, Version: in.ver, CorrelationKey: in.ck, State: in.state,
		StartedAt: in.start, EndedAt: in.end, EndElement: in.endEl, Variables: vars,
	}
	p, _ := e.opts.Processes.Get(in.pid, in.ver)
	var rootKey int64
	for _, ei := range mergeElems(in.elems, done) {
		if ei.root {
			rootKey = ei.key
			if ei.state != ElementActive {
				continue
			}
		} else {
			ev := ElementView{Key: ei.key, ElementID: ei.el, State: ei.state, ScopeKey: ei.scope, StartedAt: ei.start.time(), EndedAt: ei.end.time()}
			if ev.ScopeKey == rootKey {
				ev.ScopeKey = 0
			}
			if p != nil {
				if el := p.Elements[ei.el]; el != nil {
					ev.Kind = el.Kind
				}
			}
			iv.Elements = append(iv.Elements, ev)
		}
		if ei.state != ElementActive {
			continue
		}
		for _, tr := range ei.trigs {
			if tr.msg != "" {
				iv.Subscriptions = append(iv.Subscriptions, SubscriptionView{ElementID: tr.target, MessageName: tr.msg, CorrelationKey: tr.ck})
			} else {
				iv.Timers = append(iv.Timers, TimerView{ElementID: tr.target, Due: tr.due.time()})
			}
		}
	}
	return iv
}

// Feed returns up to max change-feed entries with Seq >= from, in order.
// Sequence numbers start at 1 and have no gaps; a consumer that processed up
// to n asks for Feed(n+1, max).
func (e *Engine) Feed(from uint64, max int) ([]Change, error) {
	e.readMu.RLock()
	defer e.readMu.RUnlock()
	if e.readClosed {
		return nil, ErrClosed
	}
	if max <= 0 {
		max = 1000
	}
	if from == 0 {
		from = 1
	}
	it, err := e.db.NewIter(&pebble.IterOptions{LowerBound: []byte{pFeed}, UpperBound: []byte{pFeed + 1}})
	if err != nil {
		return nil, fmt.Errorf("read change feed: %w", err)
	}
	defer it.Close()
	var out []Change
	// the chunk holding from starts at or before it
	ok := it.SeekLT(feedKey(from + 1))
	if !ok {
		ok = it.First()
	}
	for ; ok && len(out) < max; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return out, fmt.Errorf("read change feed: %w", err)
		}
		if out, err = decodeChunk(it.Key(), v, from, max, out); err != nil {
			return out, fmt.Errorf("read change feed: %w", err)
		}
	}
	return out, nil
}

func decodeChunk(k, v []byte, from uint64, max int, out []Change) ([]Change, error) {
	if len(k) != 9 {
		return out, fmt.Errorf("%w: feed key %q", errCorrupt, k)
	}
	if len(v) > 0 && v[0] == chunkSnappy {
		var err error
		if v, err = snappy.Decode(nil, v[1:]); err != nil {
			return out, fmt.Errorf("%w: feed chunk %d: %v", errCorrupt, beU64(k[1:]), err)
		}
	}
	d := dec{b: v}
	if ver := d.uvarint(); ver != 3 {
		return out, fmt.Errorf("%w: feed record version %d", errCorrupt, ver)
	}
	wall := d.time()
	var pids []string
	for seq := beU64(k[1:]); len(d.b) > 0 && len(out) < max; seq++ {
		c := Change{Seq: seq, WallTime: wall}
		c.Kind = kindOf(d.byte())
		c.Time = d.time()
		c.InstanceKey = d.varint()
		if c.InstanceKey != 0 {
			if i := d.uvarint(); i == 0 {
				c.ProcessID = d.str()
				pids = append(pids, c.ProcessID)
			} else if int(i) <= len(pids) {
				c.ProcessID = pids[i-1]
			} else {
				return out, fmt.Errorf("%w: feed record process index %d", errCorrupt, i)
			}
			c.Version = d.int()
		}
		c.ElementID = d.str()
		c.Payload = d.bytes()
		if d.err != nil {
			return out, d.err
		}
		if seq >= from {
			out = append(out, c)
		}
	}
	return out, nil
}

// PendingActions returns up to max outbox entries not yet delivered or given
// up, with Seq > after, in order.
func (e *Engine) PendingActions(after uint64, max int) ([]Action, error) {
	e.readMu.RLock()
	defer e.readMu.RUnlock()
	if e.readClosed {
		return nil, ErrClosed
	}
	if max <= 0 {
		max = 1000
	}
	it, err := e.db.NewIter(&pebble.IterOptions{LowerBound: outboxKey(after + 1), UpperBound: []byte{pOutbox + 1}})
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	defer it.Close()
	var out []Action
	for it.First(); it.Valid() && len(out) < max; it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return out, fmt.Errorf("read outbox: %w", err)
		}
		a, err := decodeAction(v)
		if err != nil {
			return out, fmt.Errorf("read outbox entry %d: %w", beU64(it.Key()[1:]), err)
		}
		out = append(out, a)
	}
	e.outbox.put(out)
	return out, nil
}

// outboxCache holds pending outbox entries by sequence number (see
// Engine.outbox). It only ever holds what the store holds: entries are added
// after they were read and replaced or removed after MarkActions committed.
type outboxCache struct {
	mu sync.Mutex
	m  map[uint64]Action
}

func (c *outboxCache) put(as []Action) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[uint64]Action, len(as))
	}
	for _, a := range as {
		c.m[a.Seq] = a
	}
}

func (c *outboxCache) get(seq uint64) (Action, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.m[seq]
	return a, ok
}

func (c *outboxCache) apply(updated []Action, removed []uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, seq := range removed {
		delete(c.m, seq)
	}
	for _, a := range updated {
		if c.m != nil {
			c.m[a.Seq] = a
		}
	}
}

// MarkActions records delivery attempts in one synced batch: delivered and
// given-up entries leave the outbox (a given-up entry raises an incident);
// a failed attempt that will be retried counts the attempt. Every update is
// also a ChangeActionUpdated feed entry.
func (e *Engine) MarkActions(ctx context.Context, updates []ActionUpdate) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	if err := e.usable(); err != nil {
		return err
	}
	t := e.begin(ctx)
	// Delivery marks are written without fsync: a machine crash may lose the
	// last ones, and those actions are then sent again (at-least-once; receivers
	// deduplicate on the action id). The next synced batch makes them durable.
	t.noSync = true
	var updated []Action
	var removed []uint64
	for _, u := range updates {
		k := outboxKey(u.Seq)
		a, cached := e.outbox.get(u.Seq)
		if !cached {
			v, found, err := get(e.db, k)
			if err != nil {
				t.rollback()
				return fmt.Errorf("mark action %d: %w", u.Seq, err)
			}
			if !found {
				continue // already delivered or given up
			}
			if a, err = decodeAction(v); err != nil {
				t.rollback()
				return fmt.Errorf("mark action %d: %w", u.Seq, err)
			}
		}
		at := u.At
		if at.IsZero() {
			at = t.wall
		}
		a.Attempts++
		a.LastError = u.Error
		var in *instance
		if a.InstanceKey != 0 {
			in = &instance{key: a.InstanceKey, pid: a.ProcessID, ver: a.Version}
		}
		switch u.State {
		case ActionDelivered:
			a.State = ActionDelivered
			t.b.Delete(k, nil)
			removed = append(removed, u.Seq)
		case ActionFailed:
			a.State = ActionFailed
			t.b.Delete(k, nil)
			removed = append(removed, u.Seq)
			t.buf = encodeAction(t.buf, &a)
			t.b.Set(failedKey(a.ID), t.buf, nil)
			id := a.ID + "-failed"
			if a.Requeued > 0 {
				id = fmt.Sprintf("%s-failed-%d", a.ID, a.Requeued)
			}
			b, _ := json.Marshal(IncidentPayload{
				IncidentID: id, Reason: "ACTION_FAILED", CorrelationKey: a.CorrelationKey, ActionID: a.ID,
				Severity: "high", Detail: fmt.Sprintf("action %s (%s to %s) gave up after %d attempts: %s", a.ID, a.Type, a.Target, a.Attempts, u.Error),
			})
			t.change(ChangeIncident, at, in, a.ElementID, b)
		default:
			a.State = ActionPending
			updated = append(updated, a)
		}
		if a.State == ActionPending {
			t.buf = encodeAction(t.buf, &a)
			t.b.Set(k, t.buf, nil)
		}
		t.scratch = appendActionJSON(t.scratch[:0], &a)
		t.change(ChangeActionUpdated, at, in, a.ElementID, t.scratch)
	}
	if err := t.commit(); err != nil {
		return err
	}
	e.outbox.apply(updated, removed)
	return nil
}

// ErrNoFailedAction is returned (wrapped) by RetryAction for an id that is not
// a given-up action.
var ErrNoFailedAction = errors.New("no given-up action with this id")

// RetryAction puts a given-up action back in the outbox: same id (so
// receivers still deduplicate), a new sequence number (so the relay reads it
// again), attempts reset so it gets a full retry budget, state pending. It fails with [ErrNoFailedAction] when
// the action was not given up or was already retried.
func (e *Engine) RetryAction(ctx context.Context, id string) (Action, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return Action{}, ErrClosed
	}
	if err := e.usable(); err != nil {
		return Action{}, err
	}
	v, found, err := get(e.db, failedKey(id))
	if err != nil {
		return Action{}, fmt.Errorf("retry action %s: %w", id, err)
	}
	if !found {
		return Action{}, fmt.Errorf("retry action %s: %w", id, ErrNoFailedAction)
	}
	a, err := decodeAction(v)
	if err != nil {
		return Action{}, fmt.Errorf("retry action %s: %w", id, err)
	}
	t := e.begin(ctx)
	t.b.Delete(failedKey(id), nil)
	a.State, a.LastError, a.Attempts = ActionPending, "", 0
	a.Requeued++
	t.addAction(&a, t.wall)
	if err := t.commit(); err != nil {
		return Action{}, fmt.Errorf("retry action %s: %w", id, err)
	}
	return a, nil
}

var changeKinds = [...]ChangeKind{
	ChangeInstanceStarted, ChangeInstanceCompleted, ChangeInstanceCancelled, ChangeElementStarted,
	ChangeElementCompleted, ChangeElementSkipped, ChangeElementTerminated, ChangeVariables, ChangeMessage,
	ChangeIncident, ChangeAction, ChangeActionUpdated, ChangeIgnored,
}

// kindCode is the index of k in changeKinds (255: unknown), as a switch:
// it runs for every feed entry (TestKindCode keeps the two in step).
func kindCode(k ChangeKind) byte {
	switch k {
	case ChangeInstanceStarted:
		return 0
	case ChangeInstanceCompleted:
		return 1
	case ChangeInstanceCancelled:
		return 2
	case ChangeElementStarted:
		return 3
	case ChangeElementCompleted:
		return 4
	case ChangeElementSkipped:
		return 5
	case ChangeElementTerminated:
		return 6
	case ChangeVariables:
		return 7
	case ChangeMessage:
		return 8
	case ChangeIncident:
		return 9
	case ChangeAction:
		return 10
	case ChangeActionUpdated:
		return 11
	case ChangeIgnored:
		return 12
	}
	return 255
}

func kindOf(b byte) ChangeKind {
	if int(b) < len(changeKinds) {
		return changeKinds[b]
	}
	return ChangeKind("unknown")
}

// --- timer start events ---

// startTimer is the record of a process-level timer start event: which
// version armed it, when it is due next (zero: done) and how often it fired.
type startTimer struct {
	version int
	due     time.Time
	fired   int
}

func startTimerKey(pid, el string) []byte {
	return []byte("mstart/" + pid + "\x00" + el)
}

func (t *txn) readStartTimer(pid, el string) (startTimer, bool, error) {
	v, found, err := get(t.e.db, startTimerKey(pid, el))
	if err != nil || !found {
		return startTimer{}, false, err
	}
	d := dec{b: v}
	st := startTimer{version: d.int(), due: d.time(), fired: d.int()}
	if d.err != nil {
		return st, false, fmt.Errorf("read timer start %s/%s: %w", pid, el, d.err)
	}
	return st, true, nil
}

func (t *txn) writeStartTimer(pid, el string, st startTimer) {
	e := enc{}
	e.int(st.version)
	e.time(st.due)
	e.int(st.fired)
	t.b.Set(startTimerKey(pid, el), e.b, nil)
	if !st.due.IsZero() {
		t.b.Set(timerKey(st.due, 0, 0, pid+"\x00"+el), nil, nil)
		t.lowerFloor(pTimer, st.due)
	}
}

// syncStartTimers arms the timer start events of the latest versions; a new
// version replaces the timers of the one before, as in Zeebe.
func (t *txn) syncStartTimers(now time.Time) error {
	for _, p := range t.e.procs.latest {
		if p.Scope == nil {
			continue
		}
		for _, el := range p.Scope.TimerStarts {
			if el.Timer == nil {
				continue
			}
			st, found, err := t.readStartTimer(p.ID, el.ID)
			if err != nil {
				return err
			}
			if found && st.version == p.Version {
				continue
			}
			if found && !st.due.IsZero() {
				t.b.Delete(timerKey(st.due, 0, 0, p.ID+"\x00"+el.ID), nil)
			}
			t.writeStartTimer(p.ID, el.ID, startTimer{version: p.Version, due: el.Timer.First(now)})
		}
	}
	return nil
}

// fireStartTimer starts an instance from a timer start event. The instance's
// correlation key is synthetic: process id, element id and due time.
func (t *txn) fireStartTimer(it tickItem, res *TickResult) {
	pid, elID, ok := strings.Cut(it.target, "\x00")
	if !ok {
		return
	}
	st, found, err := t.readStartTimer(pid, elID)
	if err != nil {
		t.fail(err)
		return
	}
	p := t.e.procs.latest[pid]
	if !found || !st.due.Equal(it.at) || p == nil || p.Version != st.version {
		return // replaced by a newer version
	}
	el := p.Elements[elID]
	if el == nil || el.Timer == nil {
		return
	}
	ck := pid + "/" + elID + "/" + it.at.UTC().Format(time.RFC3339Nano)
	g, err := t.group(ck, true)
	if err != nil {
		t.fail(err)
		return
	}
	m := Message{CorrelationKey: ck, ID: ck, EventTime: it.at}
	var out Outcome
	t.start(g, p, el, &m, &out)
	res.Fired++
	st.fired++
	next, again := el.Timer.Next(it.at, st.fired)
	if !again {
		next = time.Time{}
	}
	st.due = next
	t.writeStartTimer(pid, elID, st)
}

// prefetch loads the groups a round needs that are not cached, in key order
// with one iterator: neighbouring keys share blocks, so this costs far less
// than one random read per item.
func (t *txn) prefetch(items []tickItem) error {
	cks := make([]string, 0, len(items))
	for _, it := range items {
		cks = append(cks, it.ck)
	}
	return t.prefetchKeys(cks)
}

// prefetchKeys loads the stored groups of the keys that are not cached (the
// Bloom filter tells which may be stored) in key order with one iterator.
func (t *txn) prefetchKeys(keys []string) error {
	var cks []string
	hints := t.hints[:0]
	for _, ck := range keys {
		h := groupHint{ck: ck, known: ck != ""}
		switch {
		case ck == "":
		case t.accessed[ck] != nil:
			h.g = t.accessed[ck]
		default:
			if g := t.e.cache[ck]; g != nil {
				// cached: the batch finds it in its own map from now on
				t.e.lruTouch(g)
				t.accessed[ck] = g
				h.g = g
			} else if t.e.groups.has(ck) {
				cks = append(cks, ck)
				h.known = false // read below, if stored
			}
		}
		hints = append(hints, h)
	}
	t.hints = hints
	slices.Sort(cks)
	cks = slices.Compact(cks)
	if len(cks) < 2 {
		return nil
	}
	iter, err := t.e.db.NewIter(&pebble.IterOptions{LowerBound: []byte{pGroup}, UpperBound: []byte{pGroup + 1}})
	if err != nil {
		return fmt.Errorf("prefetch groups: %w", err)
	}
	defer iter.Close()
	for _, ck := range cks {
		k := groupKey(ck)
		if !iter.SeekGE(k) || !bytes.Equal(iter.Key(), k) {
			continue
		}
		v, err := iter.ValueAndErr()
		if err != nil {
			return fmt.Errorf("prefetch group %q: %w", ck, err)
		}
		g, err := decodeGroup(v, t.e.syms)
		if err != nil {
			return fmt.Errorf("read group %q: %w", ck, err)
		}
		t.e.cache[ck] = g
		t.e.lruTouch(g)
		t.accessed[ck] = g
	}
	return nil
}

// groupHint is what prefetchKeys found for one message's correlation key,
// so that the message's first group lookup needs no map lookup: its group
// (which stays in txn.accessed for the whole txn), or, with g nil and
// known, that no group was cached or stored (only an earlier message of the
// batch can have made it since, and that one is in txn.accessed).
type groupHint struct {
	ck    string
	g     *group
	known bool
}

// TrimFeed deletes change-feed entries below seq upTo that every consumer
// has processed (the caller passes the lowest checkpoint of history and any
// other reader). Whole chunks are removed with one range deletion, so a few
// entries below upTo may stay; Feed(from) with from < upTo may then return
// fewer old entries, never wrong ones.
func (e *Engine) TrimFeed(ctx context.Context, upTo uint64) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	if err := e.usable(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("trim change feed: %w", err)
	}
	it, err := e.db.NewIter(&pebble.IterOptions{LowerBound: []byte{pFeed}, UpperBound: []byte{pFeed + 1}})
	if err != nil {
		return fmt.Errorf("trim change feed: %w", err)
	}
	var end []byte
	if it.SeekLT(feedKey(upTo + 1)) {
		end = append([]byte(nil), it.Key()...) // the chunk holding upTo stays
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("trim change feed: %w", err)
	}
	if end == nil {
		return nil
	}
	if err := e.db.DeleteRange(feedKey(0), end, e.wo); err != nil {
		return fmt.Errorf("trim change feed below %d: %w", upTo, err)
	}
	return nil
}
