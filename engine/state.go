package engine

import (
	"fmt"
	"sort"
	"time"
)

// group is the unit of caching and storage: everything the engine knows under
// one correlation key — the instances started with it (active and recently
// ended), their element instances, subscriptions and timers, and the messages
// buffered for it. One message touches one group, so the hot path is one map
// lookup and, on a cache miss, one store read.
type group struct {
	ck      string
	insts   []*instance
	msgs    []*bufMsg    // buffered (TTL) and held (skip-ahead) messages
	foreign []foreignRef // instances of other groups with a subscription under this key
	dirty   bool         // changed in the current batch
	wrote   uint64       // number of the last batch that wrote it
	prev    *group       // LRU list
	next    *group
}

// foreignRef points at an instance whose subscription uses this group's key
// although the instance was started with another one.
type foreignRef struct {
	ck  string
	key int64
}

// instance is one process instance.
type instance struct {
	key   int64
	pid   string
	ver   int
	ck    string
	state InstanceState
	start time.Time
	end   time.Time
	endEl string
	vars  varSet
	elems []*elemInst // the root and the active element instances, in key order
	done  []byte      // path record: the finished element instances, encoded (see archive)
	// unarchived: elems holds finished element instances not yet moved to done
	unarchived bool
	joins      []join
	decoded    map[string]any // vars decoded for FEEL; nil when stale
	varsEnc    []byte         // vars encoded for the group record; nil when stale
}

// elemInst is one element instance. The root element instance stands for the
// process scope itself; it is not part of the path.
type elemInst struct {
	key   int64
	el    string
	state ElementState
	scope int64 // key of the enclosing scope's element instance (0 for root)
	start stamp
	end   stamp
	root  bool
	trigs []trigger
}

// trigger is something an active element instance waits for: a message
// subscription or a timer. Target is the element that fires: the element
// itself (catch event, receive task), a boundary event, a catch event after an
// event-based gateway or deferred choice, or an event sub-process start.
type trigger struct {
	target string
	msg    string // message name; "" for timers
	ck     string
	due    stamp // timers
	fired  int
	flow   string // deferred choice: the branch this trigger selects
}

// join counts tokens that arrived at a joining gateway in a scope.
type join struct {
	scope int64
	gw    string
	flows map[string]int
}

// bufMsg is a message kept in a group: buffered (early event, §4.4) until a
// subscription opens or its TTL passes, or held (skip-ahead, §4.5) until the
// watermark passes its event time.
type bufMsg struct {
	m      Message
	held   bool
	reason Reason
	expiry time.Time // buffered: ReadAt + TTL
}

func (i *instance) elem(key int64) *elemInst {
	// element instances are appended in key order
	n := sort.Search(len(i.elems), func(j int) bool { return i.elems[j].key >= key })
	if n < len(i.elems) && i.elems[n].key == key {
		return i.elems[n]
	}
	return nil
}

func (g *group) instance(key int64) *instance {
	for _, in := range g.insts {
		if in.key == key {
			return in
		}
	}
	return nil
}

// archive moves the finished element instances of the group's instances
// into their instance's path record: an encoded byte string that only grows
// (appended once per element) and is copied as it is into the group record.
// Only active element instances and the root (the process scope) take part
// in correlation, so the group record stays cheap to encode however long
// the path grows, and finished element instances cost no memory as structs.
func (t *txn) archive(g *group) {
	for _, in := range g.insts {
		if in.unarchived {
			in.archive(t.e.syms)
		}
	}
}

// archive moves the instance's finished element instances into its path
// record. Runs call it when they finish, while the instance is hot in the
// CPU cache; the commit catches any left.
func (in *instance) archive(sy *symbols) {
	keep := in.elems[:0]
	e := enc{b: in.done}
	if e.b == nil {
		e.b = make([]byte, 0, 96) // room for a few steps; append doubles it from there
	}
	for _, ei := range in.elems {
		if ei.root || ei.state == ElementActive {
			keep = append(keep, ei)
			continue
		}
		encodeDoneElem(&e, ei, in.start, in.key, sy)
	}
	in.done = e.b
	clear(in.elems[len(keep):])
	in.elems = keep
	in.unarchived = false
}

// encodeDoneElem appends one finished element instance to a path record:
// its key relative to the instance's, its scope relative to its own key,
// its times relative to the instance's start (compact times).
func encodeDoneElem(e *enc, ei *elemInst, base time.Time, baseKey int64, sy *symbols) {
	e.varint(ei.key - baseKey)
	e.gsym(sy, ei.el)
	e.b = append(e.b, stateCode(ei.state))
	e.scope(ei.scope, ei.key)
	e.relStamp(ei.start, base)
	e.relStamp(ei.end, base)
}

// scope stores an element instance's scope key relative to its own key
// (0 for the root's scope, none).
func (e *enc) scope(scope, key int64) {
	if scope == 0 {
		e.uvarint(0)
		return
	}
	d := key - scope
	e.uvarint(uint64(d<<1^d>>63) + 1)
}

func (d *dec) scope(key int64) int64 {
	x := d.uvarint()
	if x == 0 || d.err != nil {
		return 0
	}
	x--
	return key - (int64(x>>1) ^ -int64(x&1))
}

// decodeDoneElems decodes an instance's path record, in key order (the
// order entered).
func decodeDoneElems(v []byte, base time.Time, baseKey int64, sy *symbols) ([]*elemInst, error) {
	var out []*elemInst
	d := dec{b: v}
	for len(d.b) > 0 && d.err == nil {
		ei := &elemInst{key: baseKey + d.varint()}
		ei.el = d.gsym(sy)
		ei.state = stateOf(d.byte())
		ei.scope = d.scope(ei.key)
		ei.start = d.rel3Stamp(base)
		ei.end = d.rel3Stamp(base)
		out = append(out, ei)
	}
	if d.err != nil {
		return nil, fmt.Errorf("path record: %w", d.err)
	}
	// appended per batch: a scope that finished after its children comes
	// later with a smaller key
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out, nil
}

// decodeDoneElemsV2 decodes a path record of a v2 group record (absolute
// keys, nanosecond times).
func decodeDoneElemsV2(v []byte, base time.Time) ([]*elemInst, error) {
	var out []*elemInst
	d := dec{b: v}
	for len(d.b) > 0 && d.err == nil {
		ei := &elemInst{key: d.varint()}
		ei.el = d.str()
		ei.state = stateOf(d.byte())
		ei.scope = d.varint()
		ei.start = d.relStamp(base)
		ei.end = d.relStamp(base)
		out = append(out, ei)
	}
	if d.err != nil {
		return nil, fmt.Errorf("path record: %w", d.err)
	}
	return out, nil
}

// --- encoding ---

const (
	recGroupV1 = 1 // no path records: finished element instances among the active ones
	recGroupV2 = 2 // instances end with their path record
	recGroupV3 = 3 // symbols, compact times, relative keys (about half the size)
)

// encodeGroup writes a group record (v3). Model strings are written as
// their symbol ids (sy; nil writes them out), correlation keys once per
// record and then as references (symtab).
func encodeGroup(g *group, buf []byte, sy *symbols) []byte {
	e := enc{b: buf[:0]}
	var tab symtab
	tab.add("")
	tab.add(g.ck)
	e.uvarint(recGroupV3)
	e.str(g.ck)
	e.uvarint(uint64(len(g.insts)))
	for _, in := range g.insts {
		encodeInstance(&e, &tab, sy, in)
		e.bytes(in.done)
	}
	e.uvarint(uint64(len(g.msgs)))
	for _, bm := range g.msgs {
		encodeMessage(&e, &bm.m)
		e.bool(bm.held)
		e.gsym(sy, string(bm.reason))
		e.time3(bm.expiry)
	}
	e.uvarint(uint64(len(g.foreign)))
	for _, f := range g.foreign {
		e.sym(&tab, f.ck)
		e.varint(f.key)
	}
	return e.b
}

func encodeInstance(e *enc, tab *symtab, sy *symbols, in *instance) {
	e.varint(in.key)
	e.gsym(sy, in.pid)
	e.int(in.ver)
	e.sym(tab, in.ck)
	e.gsym(sy, string(in.state))
	e.time3(in.start)
	e.rel3(in.end, in.start)
	e.gsym(sy, in.endEl)
	e.b = append(e.b, in.encodedVars()...)
	e.uvarint(uint64(len(in.elems)))
	prev := in.key
	for _, ei := range in.elems {
		e.varint(ei.key - prev)
		prev = ei.key
		e.gsym(sy, ei.el)
		st := stateCode(ei.state)
		if ei.root {
			st |= rootFlag
		}
		e.b = append(e.b, st)
		e.scope(ei.scope, ei.key)
		e.relStamp(ei.start, in.start)
		e.relStamp(ei.end, in.start)
		e.uvarint(uint64(len(ei.trigs)))
		for _, t := range ei.trigs {
			e.gsym(sy, t.target)
			e.gsym(sy, t.msg)
			e.sym(tab, t.ck)
			e.relStamp(t.due, in.start)
			e.int(t.fired)
			e.gsym(sy, t.flow)
		}
	}
	e.uvarint(uint64(len(in.joins)))
	for _, j := range in.joins {
		e.varint(j.scope)
		e.gsym(sy, j.gw)
		fl := make([]string, 0, len(j.flows))
		for f := range j.flows {
			fl = append(fl, f)
		}
		sort.Strings(fl)
		e.uvarint(uint64(len(fl)))
		for _, f := range fl {
			e.gsym(sy, f)
			e.int(j.flows[f])
		}
	}
}

// encodedVars returns the instance's variables as group records hold them
// (the same in every version), encoding them when they changed.
func (in *instance) encodedVars() []byte {
	if in.varsEnc == nil {
		// sorted, so equal variables encode equally; kept until they change
		v := enc{b: make([]byte, 0, 64)}
		v.uvarint(uint64(len(in.vars)))
		for _, kv := range in.vars {
			v.str(kv.k)
			v.bytes(kv.v)
		}
		in.varsEnc = v.b
	}
	return in.varsEnc
}

// rootFlag marks the root element instance in its state byte (v3).
const rootFlag = 0x80

func encodeMessage(e *enc, m *Message) {
	e.str(m.Name)
	e.str(m.CorrelationKey)
	e.str(m.ID)
	e.time(m.EventTime)
	e.time(m.ReadAt)
	e.bytes(m.Variables)
	e.str(m.Source)
	e.varint(int64(m.BufferTTL))
	e.str(m.Start)
	e.str(m.Position.Topic)
	e.int(m.Position.Partition)
	e.varint(m.Position.Offset)
	e.str(string(m.Invalid))
	e.str(m.Detail)
	e.bytes(m.Raw)
	e.bytes(m.Key)
	e.uvarint(uint64(len(m.Headers)))
	for _, h := range m.Headers {
		e.str(h.Key)
		e.bytes(h.Value)
	}
}

func decodeMessage(d *dec) Message {
	var m Message
	m.Name = d.str()
	m.CorrelationKey = d.str()
	m.ID = d.str()
	m.EventTime = d.time()
	m.ReadAt = d.time()
	m.Variables = d.bytes()
	m.Source = d.str()
	m.BufferTTL = time.Duration(d.varint())
	m.Start = d.str()
	m.Position.Topic = d.str()
	m.Position.Partition = d.int()
	m.Position.Offset = d.varint()
	m.Invalid = Reason(d.str())
	m.Detail = d.str()
	m.Raw = d.bytes()
	m.Key = d.bytes()
	if n := d.count(); n > 0 {
		m.Headers = make([]Header, n)
		for i := range m.Headers {
			m.Headers[i].Key = d.str()
			m.Headers[i].Value = d.bytes()
		}
	}
	return m
}

func decodeGroup(b []byte, sy *symbols) (*group, error) {
	d := dec{b: b}
	v := d.uvarint()
	if v == recGroupV1 || v == recGroupV2 {
		return decodeGroupV2(d, v)
	}
	if v != recGroupV3 {
		return nil, fmt.Errorf("%w: group record version %d", errCorrupt, v)
	}
	g := &group{ck: d.str()}
	var tab symtab
	tab.add("")
	tab.add(g.ck)
	n := d.count()
	for i := 0; i < n && d.err == nil; i++ {
		in := decodeInstance(&d, &tab, sy)
		in.done = d.bytes()
		g.insts = append(g.insts, in)
	}
	n = d.count()
	for i := 0; i < n && d.err == nil; i++ {
		bm := &bufMsg{m: decodeMessage(&d)}
		bm.held = d.bool()
		bm.reason = Reason(d.gsym(sy))
		bm.expiry = d.time3()
		g.msgs = append(g.msgs, bm)
	}
	n = d.count()
	for i := 0; i < n && d.err == nil; i++ {
		g.foreign = append(g.foreign, foreignRef{ck: d.sym(&tab), key: d.varint()})
	}
	return g, d.end()
}

// end reports the decoding error, or trailing bytes.
func (d *dec) end() error {
	if d.err != nil {
		return d.err
	}
	if len(d.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes in group record", errCorrupt, len(d.b))
	}
	return nil
}

func decodeInstance(d *dec, tab *symtab, sy *symbols) *instance {
	in := &instance{}
	in.key = d.varint()
	in.pid = d.gsym(sy)
	in.ver = d.int()
	in.ck = d.sym(tab)
	in.state = InstanceState(d.gsym(sy))
	in.start = d.time3()
	in.end = d.rel3(in.start)
	in.endEl = d.gsym(sy)
	decodeVars(d, in)
	n := d.count()
	in.elems = make([]*elemInst, 0, n)
	prev := in.key
	for i := 0; i < n && d.err == nil; i++ {
		ei := &elemInst{}
		ei.key = prev + d.varint()
		prev = ei.key
		ei.el = d.gsym(sy)
		st := d.byte()
		ei.root = st&rootFlag != 0
		if ei.state = stateOf(st &^ rootFlag); ei.state != ElementActive {
			in.unarchived = true // a root that ended
		}
		ei.scope = d.scope(ei.key)
		ei.start = d.rel3Stamp(in.start)
		ei.end = d.rel3Stamp(in.start)
		m := d.count()
		for j := 0; j < m && d.err == nil; j++ {
			var t trigger
			t.target = d.gsym(sy)
			t.msg = d.gsym(sy)
			t.ck = d.sym(tab)
			t.due = d.rel3Stamp(in.start)
			t.fired = d.int()
			t.flow = d.gsym(sy)
			ei.trigs = append(ei.trigs, t)
		}
		in.elems = append(in.elems, ei)
	}
	n = d.count()
	for i := 0; i < n && d.err == nil; i++ {
		j := join{scope: d.varint(), gw: d.gsym(sy), flows: map[string]int{}}
		m := d.count()
		for k := 0; k < m && d.err == nil; k++ {
			f := d.gsym(sy)
			j.flows[f] = d.int()
		}
		in.joins = append(in.joins, j)
	}
	return in
}

func decodeVars(d *dec, in *instance) {
	n := d.count()
	in.vars = make(varSet, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		k := d.str()
		in.vars = append(in.vars, varKV{k: k, v: d.bytes()})
	}
	in.vars = sortVars(in.vars)
}

// decodeGroupV2 reads group records of versions 1 and 2; their path
// records are converted to the current form (the next write stores v3).
func decodeGroupV2(d dec, v uint64) (*group, error) {
	g := &group{ck: d.str()}
	n := d.count()
	for i := 0; i < n && d.err == nil; i++ {
		in := decodeInstanceV2(&d)
		if v >= recGroupV2 {
			done, err := decodeDoneElemsV2(d.raw(), in.start)
			if err != nil {
				return nil, err
			}
			e := enc{}
			for _, ei := range done {
				encodeDoneElem(&e, ei, in.start, in.key, nil) // literals: a read adds no symbols
			}
			in.done = e.b
		}
		g.insts = append(g.insts, in)
	}
	n = d.count()
	for i := 0; i < n && d.err == nil; i++ {
		bm := &bufMsg{m: decodeMessage(&d)}
		bm.held = d.bool()
		bm.reason = Reason(d.str())
		bm.expiry = d.time()
		g.msgs = append(g.msgs, bm)
	}
	n = d.count()
	for i := 0; i < n && d.err == nil; i++ {
		g.foreign = append(g.foreign, foreignRef{ck: d.str(), key: d.varint()})
	}
	return g, d.end()
}

func decodeInstanceV2(d *dec) *instance {
	in := &instance{}
	in.key = d.varint()
	in.pid = d.str()
	in.ver = d.int()
	in.ck = d.str()
	in.state = InstanceState(d.str())
	in.start = d.time()
	in.end = d.time()
	in.endEl = d.str()
	decodeVars(d, in)
	n := d.count()
	in.elems = make([]*elemInst, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		ei := &elemInst{}
		ei.key = d.varint()
		ei.el = d.str()
		ei.state = stateOf(d.byte())
		if ei.state != ElementActive {
			in.unarchived = true // a v1 record, or a root that ended
		}
		ei.scope = d.varint()
		ei.start = d.relStamp(in.start)
		ei.end = d.relStamp(in.start)
		ei.root = d.bool()
		m := d.count()
		for j := 0; j < m && d.err == nil; j++ {
			var t trigger
			t.target = d.str()
			t.msg = d.str()
			if t.ck = d.str(); t.ck == "" {
				t.ck = in.ck
			}
			t.due = stampOf(d.time())
			t.fired = d.int()
			t.flow = d.str()
			ei.trigs = append(ei.trigs, t)
		}
		in.elems = append(in.elems, ei)
	}
	n = d.count()
	for i := 0; i < n && d.err == nil; i++ {
		j := join{scope: d.varint(), gw: d.str(), flows: map[string]int{}}
		m := d.count()
		for k := 0; k < m && d.err == nil; k++ {
			f := d.str()
			j.flows[f] = d.int()
		}
		in.joins = append(in.joins, j)
	}
	return in
}

var elementStates = [...]ElementState{ElementActive, ElementCompleted, ElementSkipped, ElementTerminated}

func stateCode(s ElementState) byte {
	for i, x := range elementStates {
		if x == s {
			return byte(i)
		}
	}
	return 0
}

func stateOf(b byte) ElementState {
	if int(b) < len(elementStates) {
		return elementStates[b]
	}
	return ElementActive
}
