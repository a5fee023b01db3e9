package engine

import (
	"errors"
	"reflect"
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
		g, err := decodeGroup(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		g2, err := decodeGroup(encodeGroup(g, nil))
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !reflect.DeepEqual(encodeGroup(g, nil), encodeGroup(g2, nil)) {
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
	done, err := decodeDoneElems(in.done, in.start)
	if err != nil {
		t.Fatal(err)
	}
	v1 := &group{ck: g.ck, insts: []*instance{{
		key: in.key, pid: in.pid, ver: in.ver, ck: in.ck, state: in.state, start: in.start, vars: in.vars,
		elems: mergeElems(in.elems, done),
	}}}
	b := encodeGroup(v1, nil)
	// v1 layout: version, ck, 1 instance, instance, (no path length), 0 messages, 0 foreign
	if b[0] != recGroupV2 || b[len(b)-3] != 0 {
		t.Fatalf("unexpected v2 layout % x", b)
	}
	b = append(append([]byte{recGroupV1}, b[1:len(b)-3]...), 0, 0)
	g1, err := decodeGroup(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.e.view(g1.insts[0], nil); !reflect.DeepEqual(got, want) {
		t.Errorf("v1 record view\n got %+v\nwant %+v", got, want)
	}
	tx := &txn{}
	tx.archive(g1)
	if len(g1.insts[0].elems) != 3 { // the root, the sub-process and its catch event
		t.Errorf("after archive: %d element instances in memory, want 3", len(g1.insts[0].elems))
	}
}
