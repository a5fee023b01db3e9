package engine

import (
	"errors"
	"reflect"
	"sort"
	"testing"
	"time"
)

// FuzzDecodeGroup feeds damaged group records to the decoder: it must fail
// with ErrCorrupt or decode, never panic; what decodes re-encodes the same.
func FuzzDecodeGroup(f *testing.F) {
	h := newHarness(f, "order-fulfillment.bpmn")
	h.apply(msg("OrderPlaced", "A", "e1", 0), msg("PaymentReceived", "A", "e2", time.Hour), msg("GoodsShipped", "A", "e4", 2*time.Hour),
		msg("PaymentReceived", "B", "b2", 0))
	for _, ck := range []string{"A", "B"} {
		v, found, err := get(h.e.db, groupKey(ck))
		if err != nil || !found {
			f.Fatalf("group %s: %v", ck, err)
		}
		f.Add(v)
		f.Add(v[:len(v)/2])
	}
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := decodeGroup(b, h.e.syms)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		g2, err := decodeGroup(encodeGroup(g, nil, h.e.syms), h.e.syms)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !reflect.DeepEqual(encodeGroup(g, nil, h.e.syms), encodeGroup(g2, nil, h.e.syms)) {
			t.Fatal("encode/decode is not stable")
		}
	})
}

// TestDecodeGroupV1: a group record written before path records existed
// (finished element instances kept among the active ones) still decodes,
// and the next write moves them into the path record.
func TestDecodeGroupV1(t *testing.T) {
	h := newHarness(t, "order-fulfillment.bpmn")
	out := h.apply(msg("OrderPlaced", "A", "e1", 0), msg("PaymentReceived", "A", "e2", time.Hour))
	g := h.e.cache["A"]
	in := g.insts[0]
	want, _, err := h.e.Instance(out[0].InstanceKey)
	if err != nil {
		t.Fatal(err)
	}
	// rebuild the v1 shape: every element instance in elems, no path record
	done, err := decodeDoneElems(in.done, in.start, in.key, h.e.syms)
	if err != nil {
		t.Fatal(err)
	}
	v1 := &group{ck: g.ck, insts: []*instance{{
		key: in.key, pid: in.pid, ver: in.ver, ck: in.ck, state: in.state, start: in.start, vars: in.vars,
		elems: mergeElems(in.elems, done),
	}}}
	// v1 layout: version, ck, 1 instance, instance (no path record), 0 messages, 0 foreign
	e := enc{}
	e.uvarint(recGroupV1)
	e.str(v1.ck)
	e.uvarint(1)
	encodeInstanceV2(&e, v1.insts[0])
	b := append(e.b, 0, 0)
	g1, err := decodeGroup(b, h.e.syms)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.e.view(g1.insts[0], nil); !reflect.DeepEqual(got, want) {
		t.Errorf("v1 record view\n got %+v\nwant %+v", got, want)
	}
	tx := &txn{e: h.e}
	tx.archive(g1)
	if len(g1.insts[0].elems) != 3 { // the root, the sub-process and its catch event
		t.Errorf("after archive: %d element instances in memory, want 3", len(g1.insts[0].elems))
	}
}

// encodeInstanceV2 is how trackers before group record v3 wrote an instance
// (kept to write v1 records for the test above).
func encodeInstanceV2(e *enc, in *instance) {
	e.varint(in.key)
	e.str(in.pid)
	e.int(in.ver)
	e.str(in.ck)
	e.str(string(in.state))
	e.time(in.start)
	e.time(in.end)
	e.str(in.endEl)
	if in.varsEnc == nil {
		// sorted, so equal variables encode equally; kept until they change
		keys := make([]string, 0, len(in.vars))
		for k := range in.vars {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		v := enc{b: make([]byte, 0, 64)}
		v.uvarint(uint64(len(keys)))
		for _, k := range keys {
			v.str(k)
			v.bytes(in.vars[k])
		}
		in.varsEnc = v.b
	}
	e.b = append(e.b, in.varsEnc...)
	e.uvarint(uint64(len(in.elems)))
	for _, ei := range in.elems {
		e.varint(ei.key)
		e.str(ei.el)
		e.b = append(e.b, stateCode(ei.state))
		e.varint(ei.scope)
		e.rel(ei.start, in.start)
		e.rel(ei.end, in.start)
		e.bool(ei.root)
		e.uvarint(uint64(len(ei.trigs)))
		for _, t := range ei.trigs {
			e.str(t.target)
			e.str(t.msg)
			if t.ck == in.ck {
				e.str("")
			} else {
				e.str(t.ck)
			}
			e.time(t.due)
			e.int(t.fired)
			e.str(t.flow)
		}
	}
	e.uvarint(uint64(len(in.joins)))
	for _, j := range in.joins {
		e.varint(j.scope)
		e.str(j.gw)
		fl := make([]string, 0, len(j.flows))
		for f := range j.flows {
			fl = append(fl, f)
		}
		sort.Strings(fl)
		e.uvarint(uint64(len(fl)))
		for _, f := range fl {
			e.str(f)
			e.int(j.flows[f])
		}
	}
}
