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
