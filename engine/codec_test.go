package engine

import (
	"errors"
	"reflect"
	"testing"
	"time"
	"unsafe"
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

func TestStamp(t *testing.T) {
	local := time.Date(2026, 3, 29, 2, 30, 0, 123456789, time.FixedZone("CEST", 2*3600))
	for _, tm := range []time.Time{{}, time.Unix(0, 0), local, time.Unix(-1, 0)} {
		s := stampOf(tm)
		if got := s.time(); !got.Equal(tm) || got.IsZero() != tm.IsZero() {
			t.Errorf("stamp of %v reads back as %v", tm, got)
		}
		for _, base := range []time.Time{local, time.Unix(0, 0)} {
			e := enc{}
			e.relStamp(s, base)
			if d := (dec{b: e.b}); d.rel3Stamp(base) != s || d.err != nil {
				t.Errorf("rel3 of %v from %v: % x", tm, base, e.b)
			}
		}
	}
	var zero stamp
	if !zero.time().IsZero() {
		t.Errorf("the zero stamp is %v, want the zero time", zero.time())
	}
}

// The elements of an instance report their start and end times, before and
// after the store is reopened (decoded from the group record); an active
// element has no end.
func TestInstanceElementTimes(t *testing.T) {
	h := newHarness(t, "order-fulfillment.bpmn")
	out := h.apply(msg("OrderPlaced", "A", "a1", time.Hour))
	at := t0.Add(time.Hour)
	for _, phase := range []string{"applied", "reopened"} {
		if phase == "reopened" {
			h.reopen()
		}
		in, found, err := h.e.Instance(out[0].InstanceKey)
		if err != nil || !found {
			t.Fatalf("%s: instance %d: found=%v err=%v", phase, out[0].InstanceKey, found, err)
		}
		active := 0
		for _, el := range in.Elements {
			if !el.StartedAt.Equal(at) {
				t.Errorf("%s: %s started at %v, want %v", phase, el.ElementID, el.StartedAt, at)
			}
			switch {
			case el.State == ElementActive:
				active++
				if !el.EndedAt.IsZero() {
					t.Errorf("%s: active %s ended at %v", phase, el.ElementID, el.EndedAt)
				}
			case !el.EndedAt.Equal(at):
				t.Errorf("%s: %s (%s) ended at %v, want %v", phase, el.ElementID, el.State, el.EndedAt, at)
			}
		}
		if active == 0 || len(in.Timers) == 0 {
			t.Errorf("%s: %d active elements, timers %v", phase, active, in.Timers)
		}
		for _, tm := range in.Timers {
			if !tm.Due.After(at) {
				t.Errorf("%s: timer %s due %v, not after %v", phase, tm.ElementID, tm.Due, at)
			}
		}
	}
}

// Feed entries are written for every change of a group commit (tens of
// thousands per commit): they are kept to one cache line.
func TestFeedEntrySize(t *testing.T) {
	if n := unsafe.Sizeof(feedEntry{}); n > 64 {
		t.Errorf("feedEntry is %d bytes, want at most 64", n)
	}
}

func TestKindCode(t *testing.T) {
	for i, k := range changeKinds {
		if c := kindCode(k); int(c) != i || kindOf(c) != k {
			t.Errorf("kindCode(%s) = %d, want %d", k, c, i)
		}
	}
	if c := kindCode("nonsense"); c != 255 {
		t.Errorf("kindCode of an unknown kind = %d, want 255", c)
	}
}
