package engine

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
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
// and the next write moves them into the path record. testdata/
// group-v1.records holds such a record (order A of the shared example after
// OrderPlaced and PaymentReceived), a tab, and the instance as read then.
func TestDecodeGroupV1(t *testing.T) {
	h := newHarness(t, "order-fulfillment.bpmn")
	rec, err := os.ReadFile(filepath.Join("testdata", "group-v1.records"))
	if err != nil {
		t.Fatal(err)
	}
	hexRec, wantJSON, _ := strings.Cut(strings.TrimSpace(string(rec)), "\t")
	b, err := hex.DecodeString(hexRec)
	if err != nil || b[0] != recGroupV1 {
		t.Fatalf("not a v1 record: %v", err)
	}
	g1, err := decodeGroup(b, h.e.syms)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(h.e.view(g1.insts[0], nil))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != wantJSON {
		t.Errorf("v1 record view\n got %s\nwant %s", got, wantJSON)
	}
	tx := &txn{e: h.e}
	tx.archive(g1)
	if len(g1.insts[0].elems) != 3 { // the root, the sub-process and its catch event
		t.Errorf("after archive: %d element instances in memory, want 3", len(g1.insts[0].elems))
	}
	g3, err := decodeGroup(encodeGroup(g1, nil, h.e.syms), h.e.syms)
	if err != nil {
		t.Fatal(err)
	}
	done, err := decodeDoneElems(g3.insts[0].done, g3.insts[0].start, g3.insts[0].key, h.e.syms)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := json.Marshal(h.e.view(g3.insts[0], done)); string(got) != wantJSON {
		t.Errorf("v1 record rewritten as v3\n got %s\nwant %s", got, wantJSON)
	}
}
