package engine

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// TestWBatchOrder checks that a sorted batch leaves the store as the writes
// in arrival order would: the last write to a key wins, deletes delete, and
// a range deletion deletes only what was written before it.
func TestWBatchOrder(t *testing.T) {
	open := func(name string) *pebble.DB {
		db, err := pebble.Open(filepath.Join(t.TempDir(), name), &pebble.Options{Logger: pebbleLogger{discard()}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	r := rand.New(rand.NewPCG(1, 2))
	for round, ranged := range []bool{false, false, true, true} {
		want, got := open(fmt.Sprint("want", round)), open(fmt.Sprint("got", round))
		wb := newWBatch(got)
		pb := want.NewBatch()
		for i := range 5000 {
			// short and long keys sharing 8-byte prefixes, many repeated
			k := []byte(fmt.Sprintf("%c%d", "abc"[r.IntN(3)], r.IntN(300)))
			switch r.IntN(8) {
			case 0, 1:
				k = append(k, fmt.Sprintf("-%08d", r.IntN(50))...)
			case 2, 3: // a long prefix shared by the whole bucket; ties past 8 bytes
				k = []byte(fmt.Sprintf("dgroup/order-fulfillment/%d/order-%d", r.IntN(2), 100000+r.IntN(40)))
			case 4:
				k = k[:r.IntN(2)] // the empty key and one-byte keys
			}
			v := []byte(fmt.Sprint(i))
			switch n := r.IntN(10); {
			case n < 7:
				wb.Set(k, v, nil)
				pb.Set(k, v, nil)
			case n < 9 || !ranged:
				wb.Delete(k, nil)
				pb.Delete(k, nil)
			default:
				end := append(bytes.Clone(k), 0xff)
				wb.DeleteRange(k, end, nil)
				pb.DeleteRange(k, end, nil)
			}
		}
		b, err := wb.build()
		if err != nil {
			t.Fatal(err)
		}
		if b.Count() != pb.Count() {
			t.Fatalf("round %d: %d writes, want %d", round, b.Count(), pb.Count())
		}
		if !ranged {
			// sorted: every key is at or after the one before it
			var last []byte
			for rd := b.Reader(); ; {
				_, k, _, ok, err := rd.Next()
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					break
				}
				if bytes.Compare(k, last) < 0 {
					t.Fatalf("round %d: key %q after %q", round, k, last)
				}
				last = append(last[:0], k...)
			}
		}
		if err := b.Commit(pebble.NoSync); err != nil {
			t.Fatal(err)
		}
		if err := pb.Commit(pebble.NoSync); err != nil {
			t.Fatal(err)
		}
		if w, g := dump(t, want), dump(t, got); w != g {
			t.Fatalf("round %d: store differs from arrival order\nwant %.300s\ngot  %.300s", round, w, g)
		}
		wb.Reset()
		if b, err := wb.build(); err != nil || b.Count() != 0 {
			t.Fatalf("round %d: after Reset: %d writes, %v", round, b.Count(), err)
		}
		wb.Close()
	}
}

func dump(t *testing.T, db *pebble.DB) string {
	it, err := db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var b bytes.Buffer
	for it.First(); it.Valid(); it.Next() {
		fmt.Fprintf(&b, "%s=%s ", it.Key(), it.Value())
	}
	return b.String()
}
