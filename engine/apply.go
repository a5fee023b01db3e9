package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/golang/snappy"
	"github.com/tidwall/gjson"

	"github.com/tracker-dev/tracker/models"
)

// txn collects the effects of one Apply or Tick in one Pebble batch.
type txn struct {
	e         *Engine
	ctx       context.Context
	b         *wbatch
	noSync    bool // commit without fsync (delivery marks: losing them only re-sends)
	wall      time.Time
	cnt0      counters
	accessed  map[string]*group
	ids       map[string]struct{}
	feed      int
	feedFirst uint64      // seq of the txn's first feed entry
	pend      []feedEntry // the txn's feed entries, encoded by the commit (writeFeed)
	pendMsgs  []msgEntry  // the message entries' fields
	raw       []byte      // payloads and message variables of pend, back to back
	chunk     []byte      // writeFeed: the chunk being encoded
	pids      map[string]int
	scratch   []byte // payload under construction
	zbuf      []byte // compressed feed chunk
	pos       map[TopicPartition]int64
	bpos      []batchPos // the batch's positions, folded into pos at its end
	buf       []byte
	kbuf      []byte       // key under construction
	seq       uint64       // batch number (groups remember the last that wrote them)
	events    int          // messages applied in this txn (several batches under group commit)
	cs        *commitState // the commit of this batch, once submitted
	runs      []*run       // finished runs for reuse
	idArena   []string     // storage for the Entered/Left ids of the outcomes (keepIDs)
	idScratch [8]string    // an outcome's ids while its message is handled
	err       error        // first Decider error
	syms0     int          // symbols before the batch (a rollback forgets the batch's)
	vbuf      []byte       // changed variables of a merge (copied into the feed)
	dirty     []*group     // prepare: the groups to write
	worker    encWorker    // prepare: the second goroutine's share of the group records
	low       [4]time.Time // per due-item range (floorIndex): the earliest key written (zero: none)
	hints     []groupHint  // prefetchKeys: per message of the batch
	hint      groupHint    // handle: the message's hint (hints[i]), if the batch was prefetched
	tickDel   []string     // due-item keys a lazy Tick round deleted in this txn (Engine.tickDel)
}

// encWorker holds what the helper goroutine of encodeGroups produced: the
// records back to back and which group each is.
type encWorker struct {
	rec  []byte // the record being encoded
	buf  []byte
	recs []encRec
}

// encRec is one record of an encWorker: dirty[i]'s, in buf[from:to];
// missed: it met a model string without a symbol id.
type encRec struct {
	i, from, to int
	missed      bool
}

// begin starts a batch after the in-flight commit, if any, has landed, so
// the store reads of the caller see every earlier batch.
func (e *Engine) begin(ctx context.Context) *txn {
	e.settle()
	return e.beginAsync(ctx)
}

// beginAsync starts a batch while the previous one may still be committing:
// it uses the other of the two reusable txns (and its write batch and
// buffers, so steady-state batches do not regrow them).
func (e *Engine) beginAsync(ctx context.Context) *txn {
	i := 0
	if e.txns[0] != nil && e.txns[0] == e.inflight {
		i = 1
	}
	t := e.txns[i]
	if t == nil {
		t = &txn{accessed: make(map[string]*group), ids: make(map[string]struct{})}
		t.b = newWBatch(e.db)
		e.txns[i] = t
	} else {
		clear(t.accessed)
		clear(t.ids)
		clear(t.pids)
		clear(t.pend) // drop the strings they point to
		clear(t.pendMsgs)
		clear(t.hints)
		t.b.Reset()
		*t = txn{
			b: t.b, accessed: t.accessed, ids: t.ids, pids: t.pids, runs: t.runs, dirty: t.dirty, worker: t.worker, tickDel: t.tickDel[:0],
			pend: t.pend[:0], pendMsgs: t.pendMsgs[:0], raw: t.raw[:0], hints: t.hints[:0], bpos: t.bpos[:0],
			chunk: t.chunk[:0], scratch: t.scratch[:0], vbuf: t.vbuf[:0], zbuf: t.zbuf[:0], buf: t.buf[:0], kbuf: t.kbuf[:0],
		}
	}
	e.batchSeq++
	t.e, t.ctx, t.wall, t.cnt0, t.seq = e, ctx, e.clock(), e.cnt, e.batchSeq
	t.syms0 = len(e.syms.strs)
	e.syms.b = t.b // new symbols go into this batch
	return t
}

// usable lets the in-flight commit land and reports whether a commit failed
// (then the engine must be reopened).
func (e *Engine) usable() error {
	e.settle()
	return e.failed
}

// settle lands every applied batch: it submits the open batches, if any
// (group commit), and waits for the in-flight commit. Called with e.mu
// held; the commit goroutine does not take e.mu.
func (e *Engine) settle() {
	e.flush()
	e.land()
}

// flush starts the commit of the open batches, if any. A failure to start
// it fails their Pendings too.
func (e *Engine) flush() error {
	t := e.open
	if t == nil {
		return nil
	}
	e.open = nil
	t.prepare()
	if err := e.submit(t); err != nil {
		if t.cs != nil {
			t.cs.err = err
			close(t.cs.done)
		}
		return err
	}
	return nil
}

// land waits for the in-flight commit.
func (e *Engine) land() {
	if t := e.inflight; t != nil {
		<-t.cs.done
		e.inflight = nil
		if t.cs.err != nil && e.failed == nil {
			e.failed = t.cs.err
		}
		e.durable = t.seq
		e.forgetTickDeletes(t)
	}
}

// forgetTickDeletes drops t's keys from the due-item keys deleted by
// lazy Tick rounds: t landed (the store has the deletes) or was rolled back
// (the store still has the items, so the next scan must find them).
func (e *Engine) forgetTickDeletes(t *txn) {
	for _, k := range t.tickDel {
		delete(e.tickDel, k)
	}
	t.tickDel = t.tickDel[:0]
}

// rollback forgets the in-memory effects of a failed batch: every group it
// touched is dropped from the cache and reloads from the store.
//
// Under group commit the txn may hold earlier batches whose ApplyAsync
// succeeded: they are forgotten too (their groups are among those
// dropped), the store keeps the state and source positions of the last
// commit, and their Pendings fail, so the caller reads them again.
func (t *txn) rollback() {
	if t.e.open == t {
		t.e.open = nil
	}
	if t.cs != nil {
		t.cs.err = errGroupRolledBack
		close(t.cs.done)
	}
	t.e.land() // groups reload from the store: the previous batch must be in it
	if len(t.tickDel) > 0 {
		// the deletes of lazy Tick rounds that joined the txn are undone
		// with it, and the floors may have passed them: scan every range
		// from its start again
		t.e.floors = [4]time.Time{}
	}
	t.e.forgetTickDeletes(t)
	for _, g := range t.accessed {
		t.e.drop(g)
	}
	t.e.cnt = t.cnt0
	t.e.nextDue = time.Time{}
	t.e.syms.truncate(t.syms0) // their records are gone with the batch
	t.e.syms.b = nil
}

// errGroupRolledBack fails the Pendings of batches that shared a commit
// with a batch that failed.
var errGroupRolledBack = errors.New("batch rolled back: a later batch of the same group commit failed; read it again from the engine's source positions")

// commit writes the batch and waits until it is durable.
func (t *txn) commit() error {
	t.prepare()
	if err := t.e.submit(t); err != nil {
		return err
	}
	t.e.settle()
	return t.e.failed
}

// prepare encodes the batch's effects into its write batch and does the
// in-memory bookkeeping of a commit (before it lands: the next batch is
// built on this one's state while it commits).
func (t *txn) prepare() {
	dirty := t.dirty[:0]
	for _, g := range t.accessed {
		if !g.dirty {
			continue
		}
		if len(g.insts) == 0 && len(g.msgs) == 0 && len(g.foreign) == 0 {
			t.b.Delete(t.groupKey(g.ck), nil)
		} else {
			t.archive(g)
			dirty = append(dirty, g)
		}
		g.dirty = false
		g.wrote = t.seq
	}
	t.encodeGroups(dirty)
	clear(dirty)
	t.dirty = dirty[:0]
	for tp, off := range t.pos {
		t.b.Set(positionKey(tp), u64(nil, uint64(off)), nil)
		t.e.positions[tp] = off
	}
	t.b.Set(keyCounters, t.e.cnt.encode(), nil)
	t.e.syms.b = nil // the batch is complete
}

// parallelEncode is the number of group records from which prepare shares
// their encoding with a second goroutine (the apply thread is the pipeline's
// bottleneck; encoding groups was ≈20 % of its time in the ingest run).
const parallelEncode = 128

// encodeGroups writes the group records of dirty into the write batch. From
// parallelEncode records on, a helper goroutine takes records from the same
// list as the apply thread (an atomic index), so neither waits for the
// other: a helper that has not started when the list is done is called off.
// Both encode with read-only views of the symbol dictionary (no writes to it
// while the other goroutine reads it); a record that met a model string
// without an id is encoded again afterwards, adding the symbol.
func (t *txn) encodeGroups(dirty []*group) {
	if len(dirty) < parallelEncode {
		for _, g := range dirty {
			t.buf = encodeGroup(g, t.buf, t.e.syms)
			t.b.Set(t.groupKey(g.ck), t.buf, nil) // small and written often: not compressed
		}
		return
	}
	var (
		next  atomic.Int64
		state atomic.Int32 // 0 not started, 1 running, 2 called off
		done  = make(chan struct{})
		w     = &t.worker
	)
	w.buf, w.recs = w.buf[:0], w.recs[:0]
	go func() {
		if !state.CompareAndSwap(0, 1) {
			return
		}
		defer close(done)
		sy := t.e.syms.readOnly()
		for {
			i := int(next.Add(1) - 1)
			if i >= len(dirty) {
				return
			}
			sy.missed = false
			w.rec = encodeGroup(dirty[i], w.rec, sy)
			from := len(w.buf)
			w.buf = append(w.buf, w.rec...)
			w.recs = append(w.recs, encRec{i: i, from: from, to: len(w.buf), missed: sy.missed})
		}
	}()
	sy := t.e.syms.readOnly()
	var again []*group
	for {
		i := int(next.Add(1) - 1)
		if i >= len(dirty) {
			break
		}
		g := dirty[i]
		sy.missed = false
		t.buf = encodeGroup(g, t.buf, sy)
		if sy.missed {
			again = append(again, g)
			continue
		}
		t.b.Set(t.groupKey(g.ck), t.buf, nil)
	}
	if !state.CompareAndSwap(0, 2) { // the helper ran: wait for its last record
		<-done
		for _, r := range w.recs {
			g := dirty[r.i]
			if r.missed {
				again = append(again, g)
				continue
			}
			t.b.Set(t.groupKey(g.ck), w.buf[r.from:r.to], nil)
		}
	}
	for _, g := range again { // rare: the first records that use a new model string
		t.buf = encodeGroup(g, t.buf, t.e.syms)
		t.b.Set(t.groupKey(g.ck), t.buf, nil)
	}
}

// groupKey is the store key of a group in the txn's key buffer (valid until
// the next call; Batch.Set copies it).
func (t *txn) groupKey(ck string) []byte {
	t.kbuf = append(append(t.kbuf[:0], pGroup), ck...)
	return t.kbuf
}

// submit starts the commit of a prepared batch on its own goroutine, after
// the previous commit landed (batches land in order). A failed commit leaves
// the in-memory state ahead of the store, and later batches were built on
// it: the engine then fails every call until it is reopened, which resumes
// from the last durable batch and its source positions.
func (e *Engine) submit(t *txn) error {
	e.land()
	if e.failed != nil {
		return e.failed
	}
	wo := e.wo
	if t.noSync {
		wo = pebble.NoSync
	}
	cs := t.commitState()
	e.inflight = t
	b, feed, commit := t.b, t.feed > 0, e.commitFn
	go func() {
		defer close(cs.done)
		t.writeFeed() // t is not touched by the next batch until done is closed
		pb, err := b.build()
		if err == nil {
			err = commit(pb, wo)
		}
		if err != nil {
			cs.err = fmt.Errorf("commit engine batch (the engine stops; reopen it to resume from the last durable batch): %w", err)
			return
		}
		if feed {
			e.wake()
		}
	}()
	e.evict()
	return nil
}

// group returns the group of a correlation key, loading it from the store on
// a cache miss; with create it makes an empty one when none exists.
func (t *txn) group(ck string, create bool) (*group, error) {
	e := t.e
	if h := &t.hint; h.known && h.ck == ck {
		if h.g != nil {
			return h.g, nil
		}
		if g := t.accessed[ck]; g != nil || !create {
			return g, nil
		}
		g := &group{ck: ck} // neither cached nor stored (prefetchKeys)
		e.groups.add(ck)
		e.cache[ck] = g
		e.lruTouch(g)
		t.accessed[ck] = g
		h.g = g
		return g, nil
	}
	if g := t.accessed[ck]; g != nil { // the batch's own groups: a small, hot map
		return g, nil
	}
	if g := e.cache[ck]; g != nil {
		e.lruTouch(g)
		t.accessed[ck] = g
		return g, nil
	}
	var g *group
	if e.groups.has(ck) {
		v, found, err := get(e.db, groupKey(ck))
		if err != nil {
			return nil, fmt.Errorf("read group %q: %w", ck, err)
		}
		if found {
			if g, err = decodeGroup(v, e.syms); err != nil {
				return nil, fmt.Errorf("read group %q: %w", ck, err)
			}
		}
	}
	if g == nil {
		if !create {
			return nil, nil
		}
		g = &group{ck: ck}
		e.groups.add(ck)
	}
	e.cache[ck] = g
	e.lruTouch(g)
	t.accessed[ck] = g
	return g, nil
}

// --- feed ---

// feedEntry is one change-feed entry as the apply thread records it. The
// commit goroutine encodes the entries into feed chunks (writeFeed), beside
// the next batch's apply: building the JSON payloads of message and element
// entries, most of the feed, was ≈17 % of the apply thread's time.
type feedEntry struct {
	code byte // kindCode
	pay  payKind
	at   int64     // enc.time of the change time, as the chunk holds it
	in   *instance // nil: none (only its key, process id and version are read, which never change)
	el   string
	elem *models.Element // payElement: the element, for its kind (nil: unknown)
	// payElement: the element instance's key and its scope's (0: the root);
	// payRaw: the payload is txn.raw[a:b]; payMessage: a indexes txn.pendMsgs
	a, b int64
}

type payKind uint8

const (
	payRaw     payKind = iota // a payload built by the caller
	payMessage                // messagePayload of pendMsgs[from]
	payElement                // elementPayload of the entry's element fields
)

// msgEntry is what a ChangeMessage entry's payload is built from: copies of
// the message's fields (its variables in txn.raw), so that the caller may
// reuse the message.
type msgEntry struct {
	id, name, ck, source, detail string
	topic                        string
	partition                    int
	offset                       int64
	eventTime, readAt            time.Time
	vFrom, vTo                   int
	result                       Result
	reason                       Reason
	decision                     *Decision
}

// feedChunk is how many changes share one feed record: fewer, larger keys
// keep the memtable and compactions cheap on the hot path.
const feedChunk = 256

// entry records a change-feed entry; its payload is the caller's to set.
// Entries are grouped into chunk records keyed by the seq of their first
// entry, feedChunk per record from the txn's first (see writeFeed).
func (t *txn) entry(kind ChangeKind, at time.Time, in *instance, el string) *feedEntry {
	t.e.cnt.feed++
	if len(t.pend) == 0 {
		t.feedFirst = t.e.cnt.feed
	}
	t.feed++
	t.pend = append(t.pend, feedEntry{code: kindCode(kind), at: timeCode(at), el: el})
	fe := &t.pend[len(t.pend)-1]
	if in != nil {
		fe.in = in
	}
	return fe
}

// change appends a change-feed entry with a payload built by the caller
// (copied: the caller may reuse it).
func (t *txn) change(kind ChangeKind, at time.Time, in *instance, el string, payload []byte) {
	fe := t.entry(kind, at, in, el)
	fe.pay, fe.a = payRaw, int64(len(t.raw))
	t.raw = append(t.raw, payload...)
	fe.b = int64(len(t.raw))
}

// writeFeed encodes the txn's feed entries into chunk records and adds them
// to the write batch. It runs on the commit goroutine; t is not touched by
// the next batch until the commit is done.
func (t *txn) writeFeed() {
	for from := 0; from < len(t.pend); from += feedChunk {
		to := min(from+feedChunk, len(t.pend))
		t.chunk = t.encodeChunk(t.chunk[:0], t.pend[from:to])
		t.b.Set(feedKey(t.feedFirst+uint64(from)), t.compress(t.chunk), nil)
	}
}

// encodeChunk appends the chunk record of entries to b: version, wall time,
// then per entry its kind, time, instance (process ids written once per
// chunk, then referenced by index), element id and payload.
func (t *txn) encodeChunk(b []byte, entries []feedEntry) []byte {
	e := enc{b: b}
	e.uvarint(3) // chunk record version
	e.time(t.wall)
	clear(t.pids)
	if t.pids == nil {
		t.pids = make(map[string]int)
	}
	for i := range entries {
		fe := &entries[i]
		e.b = append(e.b, fe.code)
		e.varint(fe.at)
		if in := fe.in; in != nil {
			e.varint(in.key)
			if i, ok := t.pids[in.pid]; ok {
				e.uvarint(uint64(i + 1))
			} else {
				t.pids[in.pid] = len(t.pids)
				e.uvarint(0)
				e.str(in.pid)
			}
			e.int(in.ver)
		} else {
			e.varint(0)
		}
		e.str(fe.el)
		switch fe.pay {
		case payMessage:
			t.scratch = t.messagePayload(t.scratch[:0], &t.pendMsgs[fe.a])
			e.bytes(t.scratch)
		case payElement:
			t.scratch = elementPayload(t.scratch[:0], fe)
			e.bytes(t.scratch)
		default:
			e.bytes(t.raw[fe.a:fe.b])
		}
	}
	return e.b
}

// compress returns b snappy-compressed behind a chunkSnappy marker, in the
// txn's reusable buffer (valid until the next call).
func (t *txn) compress(b []byte) []byte {
	if n := 1 + snappy.MaxEncodedLen(len(b)); cap(t.zbuf) < n {
		t.zbuf = make([]byte, 0, n)
	}
	z := snappy.Encode(t.zbuf[1:cap(t.zbuf)], b) // fits: no allocation
	t.zbuf = append(t.zbuf[:1], z...)
	t.zbuf[0] = chunkSnappy
	return t.zbuf
}

// chunkSnappy marks a snappy-compressed feed chunk (the first byte of an
// uncompressed one is its version, 3).
const chunkSnappy = 0xff

func (t *txn) elementChange(kind ChangeKind, r *run, ei *elemInst, el *models.Element) {
	if ei.root {
		return
	}
	fe := t.entry(kind, r.at, r.in, ei.el)
	fe.pay, fe.a, fe.b = payElement, ei.key, ei.scope
	if len(r.in.elems) > 0 && fe.b == r.in.elems[0].key {
		fe.b = 0
	}
	fe.elem = el
}

// elementPayload appends the JSON payload of an element entry.
func elementPayload(p []byte, fe *feedEntry) []byte {
	p = append(p, `{"elementKey":`...)
	p = strconv.AppendInt(p, fe.a, 10)
	p = append(p, `,"scopeKey":`...)
	p = strconv.AppendInt(p, fe.b, 10)
	if fe.elem != nil && fe.elem.Kind != "" {
		p = append(p, `,"kind":"`...) // element kinds are plain identifiers
		p = append(p, fe.elem.Kind...)
		p = append(p, '"')
	}
	if kindOf(fe.code) == ChangeElementSkipped {
		p = append(p, `,"deviation":true`...)
	}
	return append(p, '}')
}

// messagePayload is the payload of a ChangeMessage entry.
type messagePayload struct {
	MessageID      string          `json:"messageId"`
	Name           string          `json:"name"`
	CorrelationKey string          `json:"correlationKey"`
	Source         string          `json:"source,omitempty"`
	Outcome        Result          `json:"outcome"`
	Reason         Reason          `json:"reason,omitempty"`
	Decision       *Decision       `json:"decision,omitempty"`
	EventTime      time.Time       `json:"eventTime"`
	ReadAt         time.Time       `json:"readAt,omitzero"`
	Topic          string          `json:"topic,omitempty"`
	Partition      int             `json:"partition"`
	Offset         int64           `json:"offset"`
	Variables      json.RawMessage `json:"variables,omitempty"`
	Detail         string          `json:"detail,omitempty"`
}

func (t *txn) messageChange(m *Message, out *Outcome, in *instance) {
	fe := t.entry(ChangeMessage, m.EventTime, in, "")
	fe.pay, fe.a = payMessage, int64(len(t.pendMsgs))
	t.pendMsgs = append(t.pendMsgs, msgEntry{
		id: m.ID, name: m.Name, ck: m.CorrelationKey, source: m.Source, detail: m.Detail,
		topic: m.Position.Topic, partition: m.Position.Partition, offset: m.Position.Offset,
		eventTime: m.EventTime, readAt: m.ReadAt, vFrom: len(t.raw),
		result: out.Result, reason: out.Reason, decision: out.Decision,
	})
	t.raw = append(t.raw, m.Variables...)
	t.pendMsgs[len(t.pendMsgs)-1].vTo = len(t.raw)
}

// messagePayload appends the JSON payload of a message entry: hand-written
// JSON of [messagePayload], once per message.
func (t *txn) messagePayload(b []byte, m *msgEntry) []byte {
	b = append(b, `{"messageId":`...)
	b = appendJSONString(b, m.id)
	b = appendJSONField(b, "name", m.name)
	b = appendJSONField(b, "correlationKey", m.ck)
	if m.source != "" {
		b = appendJSONField(b, "source", m.source)
	}
	b = appendJSONField(b, "outcome", string(m.result))
	if m.reason != "" {
		b = appendJSONField(b, "reason", string(m.reason))
	}
	if m.decision != nil {
		d, _ := json.Marshal(m.decision)
		b = append(b, `,"decision":`...)
		b = append(b, d...)
	}
	b = append(b, `,"eventTime":"`...)
	b = m.eventTime.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if !m.readAt.IsZero() {
		b = append(b, `,"readAt":"`...)
		b = m.readAt.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	if m.topic != "" {
		b = appendJSONField(b, "topic", m.topic)
		b = append(b, `,"partition":`...)
		b = strconv.AppendInt(b, int64(m.partition), 10)
		b = append(b, `,"offset":`...)
		b = strconv.AppendInt(b, m.offset, 10)
	}
	if vars := t.raw[m.vFrom:m.vTo]; len(vars) > 0 && gjson.ValidBytes(vars) {
		b = append(b, `,"variables":`...)
		b = append(b, vars...)
	}
	if m.detail != "" {
		b = appendJSONField(b, "detail", m.detail)
	}
	return append(b, '}')
}

// IncidentPayload is the JSON payload of a [ChangeIncident] feed entry: part of
// the feed contract that history and the incident store read.
type IncidentPayload struct {
	IncidentID     string          `json:"incidentId"`
	Reason         string          `json:"reason"`
	MessageID      string          `json:"messageId,omitempty"`
	MessageName    string          `json:"messageName,omitempty"`
	CorrelationKey string          `json:"correlationKey,omitempty"`
	Source         string          `json:"source,omitempty"`
	Severity       string          `json:"severity"`
	Note           string          `json:"note,omitempty"`
	RuleID         string          `json:"ruleId,omitempty"`
	Detail         string          `json:"detail,omitempty"`
	EventTime      time.Time       `json:"eventTime,omitzero"`
	ReadAt         time.Time       `json:"readAt,omitzero"`
	Variables      json.RawMessage `json:"variables,omitempty"`
	Raw            string          `json:"raw,omitempty"`
	// The decision's action and where the record came from, so that the
	// incident keeps everything needed to retry it or dead-letter it again.
	Action    string   `json:"action,omitempty"`
	ActionID  string   `json:"actionId,omitempty"` // ACTION_FAILED: the action to retry
	Key       []byte   `json:"key,omitempty"`
	Headers   []Header `json:"headers,omitempty"`
	Topic     string   `json:"topic,omitempty"`
	Partition int      `json:"partition,omitempty"`
	Offset    int64    `json:"offset,omitempty"`
}

func (t *txn) incident(r *run, el, detail string) {
	p := IncidentPayload{
		IncidentID: actionID(r.in.key, el, r.at), Reason: "ELEMENT_ERROR", Severity: "high",
		CorrelationKey: r.in.ck, Detail: detail,
	}
	b, _ := json.Marshal(p)
	t.change(ChangeIncident, r.at, r.in, el, b)
}

func (t *txn) addAction(a *Action, at time.Time) {
	t.e.cnt.action++
	a.Seq = t.e.cnt.action
	t.buf = encodeAction(t.buf, a)
	t.b.Set(outboxKey(a.Seq), t.buf, nil)
	var in *instance
	if a.InstanceKey != 0 {
		in = &instance{key: a.InstanceKey, pid: a.ProcessID, ver: a.Version}
	}
	t.scratch = appendActionJSON(t.scratch[:0], a)
	t.change(ChangeAction, at, in, a.ElementID, t.scratch)
}

func (t *txn) addForeign(ck, owner string, key int64) {
	g, err := t.group(ck, true)
	if err != nil {
		t.fail(err)
		return
	}
	for _, f := range g.foreign {
		if f.key == key {
			return
		}
	}
	g.foreign = append(g.foreign, foreignRef{ck: owner, key: key})
	g.dirty = true
}

func (t *txn) fail(err error) {
	if t.err == nil {
		t.err = err
	}
}

// --- Apply ---

// Apply applies a batch atomically: all state changes, feed entries, outbox
// entries and the batch's source positions are written in one Pebble batch,
// synced before Apply returns (unless Options.NoSync). It returns one Outcome
// per message, in input order. On error nothing of the batch took effect.
func (e *Engine) Apply(ctx context.Context, batch []Message) ([]Outcome, error) {
	p, err := e.ApplyAsync(ctx, batch)
	if err != nil {
		return nil, err
	}
	return p.Wait()
}

// Pending is a batch that ApplyAsync applied in memory and whose commit may
// still be in flight.
type Pending struct {
	e    *Engine
	cs   *commitState
	outs []Outcome
}

// commitState is one batch's commit: done is closed when it landed or failed.
type commitState struct {
	done chan struct{}
	err  error // set before done is closed
}

// Done is closed once the batch is durable or its commit failed. Unlike
// Wait it does not start a group commit.
func (p *Pending) Done() <-chan struct{} { return p.cs.done }

// commitState returns the txn's commit, made on first use (under group
// commit the Pendings of its batches share it before it is submitted).
func (t *txn) commitState() *commitState {
	if t.cs == nil {
		t.cs = &commitState{done: make(chan struct{})}
	}
	return t.cs
}

// Wait blocks until the batch is durable (or its commit failed) and returns
// its outcomes. Only then may the caller act on them (commit the source
// offsets, answer a request). Under group commit, waiting for a batch whose
// commit has not started starts it.
func (p *Pending) Wait() ([]Outcome, error) {
	select {
	case <-p.cs.done:
	default:
		e := p.e
		e.mu.Lock()
		if e.open != nil && e.open.cs == p.cs {
			_ = e.flush() // a failure fails p.cs
		}
		e.mu.Unlock()
		<-p.cs.done
	}
	if p.cs.err != nil {
		return nil, p.cs.err
	}
	return p.outs, nil
}

// ApplyAsync applies a batch like Apply but returns as soon as the batch is
// applied in memory and its commit has started: the next ApplyAsync builds
// on it while it commits, so decoding, correlating and writing overlap.
// Batches land in the order they were applied. If a commit fails, every
// later call fails too and the engine must be reopened; it then resumes
// from the last durable batch, whose source positions it reports.
func (e *Engine) ApplyAsync(ctx context.Context, batch []Message) (*Pending, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, ErrClosed
	}
	if e.failed != nil {
		return nil, e.failed
	}
	e.refreshProcs()
	t := e.open
	if t == nil {
		t = e.beginAsync(ctx)
	} else {
		t.ctx = ctx
	}
	t.hints, t.bpos = t.hints[:0], t.bpos[:0]
	if len(e.cache) >= e.opts.CacheSize/2 { // misses are likely: read them in key order
		keys := make([]string, len(batch))
		for i := range batch {
			keys[i] = batch[i].CorrelationKey
		}
		if err := t.prefetchKeys(keys); err != nil {
			t.rollback()
			return nil, err
		}
	}
	outs := make([]Outcome, len(batch))
	for i := range batch {
		m := &batch[i]
		if len(t.hints) == len(batch) {
			t.hint = t.hints[i]
		}
		t.handle(m, false, &outs[i])
		t.hint = groupHint{}
		if t.err != nil {
			t.rollback()
			return nil, t.err
		}
		if m.Position.Topic != "" {
			t.notePosition(m.Position)
		}
	}
	t.foldPositions()
	if err := ctx.Err(); err != nil {
		t.rollback()
		return nil, fmt.Errorf("apply batch: %w", err)
	}
	t.events += len(batch)
	if t.events < e.opts.GroupCommit { // later batches join it
		e.open = t
		return &Pending{e: e, cs: t.commitState(), outs: outs}, nil
	}
	e.open = t
	if err := e.flush(); err != nil {
		return nil, err
	}
	return &Pending{e: e, cs: t.cs, outs: outs}, nil
}

// notePosition records the next offset of a message's partition for the
// batch: a few partitions per batch, so a short list is cheaper than two
// map lookups (hashing the topic) per message.
func (t *txn) notePosition(p Position) {
	next := p.Offset + 1
	for i := range t.bpos {
		if bp := &t.bpos[i]; bp.Partition == p.Partition && bp.Topic == p.Topic {
			bp.next = max(bp.next, next)
			return
		}
	}
	t.bpos = append(t.bpos, batchPos{TopicPartition{Topic: p.Topic, Partition: p.Partition}, next})
}

// foldPositions moves the batch's positions into the txn's, keeping for each
// partition the highest next offset beyond the one already durable.
func (t *txn) foldPositions() {
	for _, bp := range t.bpos {
		if t.pos == nil {
			t.pos = make(map[TopicPartition]int64)
		}
		if bp.next > t.pos[bp.TopicPartition] && bp.next > t.e.positions[bp.TopicPartition] {
			t.pos[bp.TopicPartition] = bp.next
		}
	}
	clear(t.bpos) // drop the topic strings
	t.bpos = t.bpos[:0]
}

// batchPos is the next offset of a partition in the batch being applied.
type batchPos struct {
	TopicPartition
	next int64
}

// seen reports whether a message id was applied within the retention window.
func (t *txn) seen(id string, h uint64) (bool, error) {
	// The filters hold every id applied so far, this batch's and the one
	// still committing included (handle adds them), so an id none of them
	// has, the common case, costs no map lookup and no read.
	e := t.e
	first := day(t.wall.Add(-e.opts.DedupeRetention))
	maybe := false
	for d, c := range e.dedupe {
		if d >= first && c.hasHash(h) {
			maybe = true
			break
		}
	}
	if !maybe {
		return false, nil
	}
	if _, ok := t.ids[id]; ok {
		return true, nil
	}
	if p := e.inflight; p != nil {
		if _, ok := p.ids[id]; ok { // applied by the batch still committing
			return true, nil
		}
	}
	for d, c := range e.dedupe {
		if d < first || !c.hasHash(h) {
			continue
		}
		_, found, err := get(e.db, dedupeKey(d, id))
		if err != nil {
			return false, fmt.Errorf("read message id %q: %w", id, err)
		}
		if found {
			return true, nil
		}
	}
	return false, nil
}

func (t *txn) handle(m *Message, released bool, out *Outcome) {
	if m.EventTime.IsZero() || m.ReadAt.IsZero() {
		// event time defaults to the read time, the read time to now
		c := *m
		if c.ReadAt.IsZero() {
			c.ReadAt = t.wall
		}
		if c.EventTime.IsZero() {
			c.EventTime = c.ReadAt
		}
		m = &c
	}
	if m.Invalid != "" {
		t.uncorrelated(m, m.Invalid, nil, out)
		t.messageChange(m, out, nil)
		return
	}
	if !released && !m.Redeliver {
		h := bloomHash(m.ID)
		dup, err := t.seen(m.ID, h)
		if err != nil {
			t.fail(err)
			return
		}
		if dup {
			out.Result = Duplicate
			t.messageChange(m, out, nil)
			return
		}
		t.ids[m.ID] = struct{}{}
		t.e.dedupeChain(day(t.wall)).addHash(h)
		t.b.Set(dedupeKey(day(t.wall), m.ID), nil, nil)
	}
	var in *instance
	// the element ids entered and left are gathered in scratch space, then
	// packed into the txn's id arena
	out.Entered, out.Left = t.idScratch[0:0:4], t.idScratch[4:4:8]
	t.route(m, released, out, &in)
	out.Entered, out.Left = t.keepIDs(out.Entered), t.keepIDs(out.Left)
	t.messageChange(m, out, in)
}

// keepIDs copies an outcome's element ids into the id arena, which they
// share with the ids of the outcomes before them: one allocation per few
// hundred messages. Outcomes outlive the batch, so the arena's used part is
// never written again; each outcome's slice is capped at its own ids.
func (t *txn) keepIDs(ids []string) []string {
	if len(ids) == 0 {
		return nil
	}
	if cap(t.idArena)-len(t.idArena) < len(ids) {
		t.idArena = make([]string, 0, max(idArenaChunk, len(ids)))
	}
	from := len(t.idArena)
	t.idArena = append(t.idArena, ids...)
	return t.idArena[from:len(t.idArena):len(t.idArena)]
}

const idArenaChunk = 1024

func (t *txn) route(m *Message, released bool, out *Outcome, inst **instance) {
	e := t.e
	startEls := e.procs.starts[m.Name]
	var noneStart *models.Process
	if m.Start != "" {
		if p := e.procs.latest[m.Start]; p != nil && p.Scope != nil && p.Scope.NoneStart != nil {
			noneStart = p
		}
	}
	g, err := t.group(m.CorrelationKey, false)
	if err != nil {
		t.fail(err)
		return
	}
	known := e.procs.names[m.Name] || len(startEls) > 0 || noneStart != nil
	if !known && !groupWaitsFor(g, m.Name) {
		t.uncorrelated(m, ReasonUnknownMessage, g, out)
		return
	}
	if g == nil {
		if g, err = t.group(m.CorrelationKey, true); err != nil {
			t.fail(err)
			return
		}
	}
	// 1. open subscriptions (§4.2), at most once per process id
	var done pidSet
	t.correlateSubs(g, m, out, &done, inst)
	// 2. start events (§4.1)
	for _, s := range startEls {
		p := s.p
		if done.has(p.ID) || activeOf(g, p.ID) != nil {
			continue
		}
		in := t.start(g, p, s.el, m, out)
		done.add(p.ID)
		if *inst == nil {
			*inst = in
		}
	}
	if noneStart != nil && !done.has(noneStart.ID) && activeOf(g, noneStart.ID) == nil {
		in := t.start(g, noneStart, noneStart.Scope.NoneStart, m, out)
		if *inst == nil {
			*inst = in
		}
	}
	if out.Result != "" {
		return
	}
	// 3. skip ahead (§4.5)
	for _, in := range g.insts {
		if in.state != InstanceActive {
			continue
		}
		p, err := e.process(in.pid, in.ver)
		if err != nil {
			continue
		}
		for _, ei := range in.elems {
			if ei.state != ElementActive || len(ei.trigs) == 0 || ei.root {
				continue
			}
			el := p.Elements[ei.el]
			if el == nil || el.Kind == models.SubProcess {
				continue
			}
			path := skipPath(el, m.Name)
			if path == nil || conformance(p, path[len(path)-1]) == models.Strict {
				continue
			}
			*inst = in
			out.InstanceKey, out.ProcessID = in.key, in.pid
			if !released {
				out.Result, out.Reason = Buffered, ReasonSkipAhead
				g.msgs = append(g.msgs, &bufMsg{m: *m, held: true, reason: ReasonSkipAhead})
				g.dirty = true
				t.b.Set(msgIndexKey(pHeld, m.EventTime, g.ck, m.ID), nil, nil)
				t.lowerFloor(pHeld, m.EventTime)
				return
			}
			r := t.newRun(g, in, p, m.EventTime, out)
			c := r.skipTo(ei, path)
			r.merge(m.Variables)
			r.leave(c, ElementCompleted)
			r.takeAll(path[len(path)-1], c.scope, true)
			r.finish()
			t.freeRun(r)
			out.Result = Correlated
			return
		}
	}
	// 4. early or uncorrelated (§4.4, §4.7)
	reason := ReasonNoInstance
	ended := false
	for _, in := range g.insts {
		if in.state == InstanceActive {
			reason = ReasonNoSubscription
			*inst = in
			break
		}
		ended = true
	}
	if reason == ReasonNoInstance && ended {
		t.uncorrelated(m, ReasonInstanceEnded, g, out)
		return
	}
	expiry := m.ReadAt.Add(m.BufferTTL)
	if m.BufferTTL > 0 && (!released || expiry.After(t.wall)) {
		t.buffer(g, m, reason, expiry)
		out.Result, out.Reason = Buffered, reason
		return
	}
	if released {
		reason = ReasonBufferExpired
	}
	t.uncorrelated(m, reason, g, out)
}

func (t *txn) buffer(g *group, m *Message, reason Reason, expiry time.Time) {
	g.msgs = append(g.msgs, &bufMsg{m: *m, reason: reason, expiry: expiry})
	g.dirty = true
	t.b.Set(msgIndexKey(pExpiry, expiry, g.ck, m.ID), nil, nil)
	t.lowerFloor(pExpiry, expiry)
}

// conformance is the element's tracker.conformance, else the process's.
func conformance(p *models.Process, el *models.Element) models.Conformance {
	if v := models.Conformance(el.Properties["tracker.conformance"]); v == models.Strict || v == models.Lenient {
		return v
	}
	if p.Conformance == "" {
		return models.Lenient
	}
	return p.Conformance
}

func groupWaitsFor(g *group, name string) bool {
	if g == nil {
		return false
	}
	for _, in := range g.insts {
		for _, ei := range in.elems {
			for _, tr := range ei.trigs {
				if tr.msg == name && ei.state == ElementActive {
					return true
				}
			}
		}
	}
	return false
}

func activeOf(g *group, pid string) *instance {
	for _, in := range g.insts {
		if in.pid == pid && in.state == InstanceActive {
			return in
		}
	}
	return nil
}

// correlateSubs delivers m to the open subscriptions for it: the first
// instance (oldest) of each process id only.
func (t *txn) correlateSubs(g *group, m *Message, out *Outcome, done *pidSet, inst **instance) bool {
	hit := false
	try := func(owner *group, in *instance) {
		if in == nil || in.state != InstanceActive || done.has(in.pid) {
			return
		}
		for _, ei := range in.elems {
			if ei.state != ElementActive {
				continue
			}
			for i := range ei.trigs {
				if tr := &ei.trigs[i]; tr.msg != m.Name || tr.ck != m.CorrelationKey {
					continue
				}
				tr := ei.trigs[i] // fire changes ei.trigs
				p, err := t.e.process(in.pid, in.ver)
				if err != nil {
					// The model is gone: the instance cannot move. Never block
					// the stream on it; the message finds no subscription.
					t.e.log.Warn("instance of an undeployed model", "instance", in.key, "err", err)
					return
				}
				done.add(in.pid)
				if !hit {
					out.Result, out.InstanceKey, out.ProcessID = Correlated, in.key, in.pid
					*inst = in
				}
				hit = true
				r := t.newRun(owner, in, p, m.EventTime, out)
				r.merge(m.Variables)
				r.fire(ei, tr, m)
				r.finish()
				t.freeRun(r)
				return
			}
		}
	}
	for _, in := range g.insts {
		try(g, in)
	}
	// firing may add references to g.foreign: iterate over a copy
	stale := false
	for _, f := range append([]foreignRef(nil), g.foreign...) {
		og, err := t.group(f.ck, false)
		if err != nil {
			t.fail(err)
			return hit
		}
		var in *instance
		if og != nil {
			in = og.instance(f.key)
		}
		if in == nil || !waitsOn(in, g.ck) {
			stale = true // the instance ended or moved on
			continue
		}
		try(og, in)
	}
	if stale {
		keep := g.foreign[:0]
		for _, f := range g.foreign {
			if og := t.e.cache[f.ck]; og != nil {
				if in := og.instance(f.key); in != nil && waitsOn(in, g.ck) {
					keep = append(keep, f)
				}
			}
		}
		g.foreign = keep
		g.dirty = true
	}
	return hit
}

// pidSet is the process ids a message has correlated to or started: at
// most once per process id (§4.1, §4.2). A message meets one or two, so a
// few on the caller's stack beat a map (no hashing, no allocation).
type pidSet struct {
	n    int
	ids  [4]string
	more []string
}

func (s *pidSet) has(pid string) bool {
	for _, p := range s.ids[:s.n] {
		if p == pid {
			return true
		}
	}
	return slices.Contains(s.more, pid)
}

func (s *pidSet) add(pid string) {
	if s.n < len(s.ids) {
		s.ids[s.n] = pid
		s.n++
		return
	}
	s.more = append(s.more, pid)
}

// waitsOn reports whether an active instance has a subscription under key ck.
func waitsOn(in *instance, ck string) bool {
	if in.state != InstanceActive {
		return false
	}
	for _, ei := range in.elems {
		if ei.state != ElementActive {
			continue
		}
		for _, tr := range ei.trigs {
			if tr.msg != "" && tr.ck == ck {
				return true
			}
		}
	}
	return false
}

func (t *txn) newRun(g *group, in *instance, p *models.Process, at time.Time, out *Outcome) *run {
	g.dirty = true
	var r *run
	if n := len(t.runs); n > 0 {
		r, t.runs = t.runs[n-1], t.runs[:n-1]
	} else {
		r = &run{}
	}
	*r = run{t: t, g: g, in: in, p: p, at: at, out: out, queue: r.queue[:0], checks: r.checks[:0], opened: r.opened[:0]}
	return r
}

// freeRun returns a finished run (and its queues) for reuse.
func (t *txn) freeRun(r *run) {
	*r = run{queue: r.queue[:0], checks: r.checks[:0], opened: r.opened[:0]}
	t.runs = append(t.runs, r)
}

// finish drains the walk and then hands buffered and held messages to the
// subscriptions it opened, earliest event time first.
func (r *run) finish() {
	r.drain()
	// by index: firing appends to r.opened, and slicing off the front would
	// shrink the capacity the run keeps for reuse (freeRun)
	for i := 0; i < len(r.opened); i++ {
		o := r.opened[i]
		if o.ei.state != ElementActive {
			continue
		}
		g := r.g
		if o.ck != g.ck {
			var err error
			if g, err = r.t.group(o.ck, false); err != nil || g == nil {
				continue
			}
		}
		best := -1
		for i, bm := range g.msgs {
			if bm.m.Name == o.msg && bm.m.CorrelationKey == o.ck && (best < 0 || bm.m.EventTime.Before(g.msgs[best].m.EventTime)) {
				best = i
			}
		}
		if best < 0 {
			continue
		}
		bm := g.msgs[best]
		var tr trigger
		found := false
		for _, x := range o.ei.trigs {
			if x.msg == o.msg && x.ck == o.ck {
				tr, found = x, true
				break
			}
		}
		if !found {
			continue
		}
		g.msgs = append(g.msgs[:best], g.msgs[best+1:]...)
		g.dirty = true
		r.t.unindex(g, bm)
		m := bm.m
		out := Outcome{Result: Correlated, InstanceKey: r.in.key, ProcessID: r.in.pid}
		sub := &run{t: r.t, g: r.g, in: r.in, p: r.p, at: m.EventTime, out: &out}
		sub.merge(m.Variables)
		sub.fire(o.ei, tr, &m)
		sub.drain()
		r.opened = append(r.opened, sub.opened...)
		r.t.messageChange(&m, &out, r.in)
		if r.out != nil {
			r.out.Entered = append(r.out.Entered, out.Entered...)
			r.out.Left = append(r.out.Left, out.Left...)
		}
	}
	if r.in.unarchived {
		r.in.archive(r.t.e.syms)
	}
}

func (t *txn) unindex(g *group, bm *bufMsg) {
	if bm.held {
		t.b.Delete(msgIndexKey(pHeld, bm.m.EventTime, g.ck, bm.m.ID), nil)
	} else {
		t.b.Delete(msgIndexKey(pExpiry, bm.expiry, g.ck, bm.m.ID), nil)
	}
}

// ckPayload is the payload of instance started/ended changes (change copies
// it into the feed chunk, so it is built in the txn's scratch buffer).
func ckPayload(b []byte, ck string) []byte {
	b = append(b, `{"correlationKey":`...)
	b = appendJSONString(b, ck)
	return append(b, '}')
}

// start creates an instance from a start event (message start, or the none
// start of a `start:` mapping).
func (t *txn) start(g *group, p *models.Process, s *models.Element, m *Message, out *Outcome) *instance {
	t.e.cnt.inst++
	in := &instance{key: t.e.cnt.inst, pid: p.ID, ver: p.Version, ck: g.ck, state: InstanceActive, start: m.EventTime}
	g.insts = append(g.insts, in)
	t.b.Set(instanceKey(in.key), []byte(g.ck), nil)
	if out.Result == "" {
		out.Result, out.InstanceKey, out.ProcessID = Started, in.key, p.ID
	}
	r := t.newRun(g, in, p, m.EventTime, out)
	t.change(ChangeInstanceStarted, m.EventTime, in, s.ID, ckPayload(t.scratch[:0], g.ck))
	t.e.cnt.inst++
	root := &elemInst{key: t.e.cnt.inst, el: p.ID, state: ElementActive, start: stampOf(m.EventTime), root: true}
	in.elems = append(in.elems, root)
	r.openEventSubs(root, p.Scope)
	r.merge(m.Variables)
	st := r.newElem(s, root.key, ElementActive)
	r.leave(st, ElementCompleted)
	r.takeAll(s, root.key, true)
	r.finish()
	t.freeRun(r)
	t.holdReachable(g, in, p)
	return in
}

// holdReachable treats messages that were buffered before the instance existed
// (NO_INSTANCE) like messages that arrive for a step further down the model
// (§4.5): when lenient conformance allows skipping to their catch element, they
// are held until the watermark passes their event time and then applied,
// recording the steps passed over as skipped. Without this, an early event for
// a later step would wait for a subscription that a missing step never opens.
func (t *txn) holdReachable(g *group, in *instance, p *models.Process) {
	for _, bm := range g.msgs {
		if bm.held || bm.m.Start != "" {
			continue
		}
		for _, ei := range in.elems {
			if ei.state != ElementActive || len(ei.trigs) == 0 || ei.root {
				continue
			}
			el := p.Elements[ei.el]
			if el == nil || el.Kind == models.SubProcess {
				continue
			}
			path := skipPath(el, bm.m.Name)
			if path == nil || conformance(p, path[len(path)-1]) == models.Strict {
				continue
			}
			t.unindex(g, bm)
			bm.held, bm.reason = true, ReasonSkipAhead
			t.b.Set(msgIndexKey(pHeld, bm.m.EventTime, g.ck, bm.m.ID), nil, nil)
			t.lowerFloor(pHeld, bm.m.EventTime)
			g.dirty = true
			break
		}
	}
}

func (t *txn) endInstance(r *run, state InstanceState) {
	in := r.in
	in.state = state
	in.end = r.at
	kind := ChangeInstanceCompleted
	if state == InstanceCancelled {
		kind = ChangeInstanceCancelled
	}
	t.change(kind, r.at, in, in.endEl, ckPayload(t.scratch[:0], in.ck))
	t.b.Set(cleanupKey(t.wall.Add(t.e.opts.DedupeRetention), r.g.ck, in.key), nil, nil)
	t.lowerFloor(pCleanup, t.wall.Add(t.e.opts.DedupeRetention))
	t.startBuffered(r.g, in.pid)
}

// startBuffered starts the next instance from a start message that was
// buffered while an instance for the same process and key was active, as
// Zeebe does (earliest event time first).
func (t *txn) startBuffered(g *group, pid string) {
	best := -1
	for i, bm := range g.msgs {
		if bm.held || (best >= 0 && !bm.m.EventTime.Before(g.msgs[best].m.EventTime)) {
			continue
		}
		for _, s := range t.e.procs.starts[bm.m.Name] {
			if s.p.ID == pid {
				best = i
			}
		}
		if bm.m.Start == pid {
			best = i
		}
	}
	if best < 0 {
		return
	}
	bm := g.msgs[best]
	g.msgs = append(g.msgs[:best], g.msgs[best+1:]...)
	g.dirty = true
	t.unindex(g, bm)
	m := bm.m
	p := t.e.procs.latest[pid]
	if p == nil {
		return
	}
	el := p.Scope.NoneStart
	for _, s := range t.e.procs.starts[m.Name] {
		if s.p.ID == pid {
			el = s.el
		}
	}
	if el == nil {
		return
	}
	var out Outcome
	in := t.start(g, p, el, &m, &out)
	t.messageChange(&m, &out, in)
}

// uncorrelated asks the Decider and records the decision's effects.
func (t *txn) uncorrelated(m *Message, reason Reason, g *group, out *Outcome) {
	state := ""
	if g != nil {
		for _, in := range g.insts {
			state = string(in.state)
			if in.state == InstanceActive {
				break
			}
		}
	}
	d := Decision{Action: DecisionIncident, Severity: "medium"}
	if t.e.opts.Decider != nil {
		var err error
		d, err = t.e.opts.Decider.Decide(t.ctx, UncorrelatedMessage{Message: m, Reason: reason, InstanceState: state, Age: t.wall.Sub(m.ReadAt)})
		if err != nil {
			t.fail(fmt.Errorf("decide on uncorrelated message %q (%s): %w", m.ID, reason, err))
			return
		}
	}
	out.Result, out.Reason, out.Decision = Uncorrelated, reason, &d
	switch d.Action {
	case DecisionIgnore:
		b, _ := json.Marshal(map[string]string{"messageId": m.ID, "reason": string(reason), "ruleId": d.RuleID, "note": d.Note})
		t.change(ChangeIgnored, m.EventTime, nil, "", b)
	case DecisionBuffer:
		if m.CorrelationKey == "" || reason == ReasonDecodeError || reason == ReasonMissingCorrelationKey {
			t.incidentFor(m, reason, d)
			return
		}
		if g == nil {
			var err error
			if g, err = t.group(m.CorrelationKey, true); err != nil {
				t.fail(err)
				return
			}
		}
		ttl := m.BufferTTL
		if ttl <= 0 {
			ttl = defaultDecisionTTL
		}
		t.buffer(g, m, reason, t.wall.Add(ttl))
		out.Result = Buffered
	case DecisionDeadLetter:
		// The consumer writes the record to its source's dead-letter topic
		// (original key, value and headers); here it becomes an incident.
		t.incidentFor(m, reason, d)
	default:
		t.incidentFor(m, reason, d)
	}
}

func (t *txn) incidentFor(m *Message, reason Reason, d Decision) {
	p := IncidentPayload{
		IncidentID: actionID(0, m.ID, m.EventTime) + "-" + string(reason), Reason: string(reason), MessageID: m.ID, MessageName: m.Name,
		CorrelationKey: m.CorrelationKey, Source: m.Source, Severity: d.Severity, Note: d.Note, RuleID: d.RuleID,
		Detail: m.Detail, EventTime: m.EventTime, ReadAt: m.ReadAt, Raw: string(m.Raw),
		Action: d.Action, Key: m.Key, Headers: m.Headers,
		Topic: m.Position.Topic, Partition: m.Position.Partition, Offset: m.Position.Offset,
	}
	if len(m.Variables) > 0 && json.Valid(m.Variables) {
		p.Variables = m.Variables
	}
	if p.Severity == "" {
		p.Severity = "medium"
	}
	b, _ := json.Marshal(p)
	t.change(ChangeIncident, m.EventTime, nil, "", b)
}
