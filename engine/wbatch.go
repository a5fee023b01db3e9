package engine

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"slices"

	"github.com/cockroachdb/pebble/v2"
)

// wbatch collects the writes of a txn and hands them to Pebble sorted by
// key, writes to one key keeping their order. Pebble inserts a batch into
// the memtable's skiplist key by key, starting each search from where the
// previous key went: in arrival order (group records, dedupe keys and
// timers all over the key space) every insert searched from the top, which
// was about a tenth of the process CPU and most of the commit goroutine's
// time. Sorted, an insert is 2.5–3× cheaper, the sort included (docs/
// ENGINE.md, Storage). Its methods mirror pebble.Batch's.
type wbatch struct {
	data   []byte // keys and values back to back
	ents   []went
	order  []wref // ents in key order (build)
	ranged bool   // holds a range deletion: applied in arrival order
	pb     *pebble.Batch
}

type went struct {
	off  int // key at data[off:off+klen], then the value (or range end)
	klen uint32
	vlen uint32
	kind uint8
}

// wref is an entry of the sort: pre is the 8 key bytes after the prefix
// every key of its first byte shares (big-endian, zero-padded), so most
// comparisons are one integer compare; i is the arrival order.
type wref struct {
	pre uint64
	i   uint32
}

const (
	wSet uint8 = iota
	wDelete
	wDeleteRange
)

func newWBatch(db *pebble.DB) *wbatch {
	return &wbatch{
		data: make([]byte, 0, 1<<20),
		pb:   db.NewBatch(pebble.WithInitialSizeBytes(1<<20), pebble.WithMaxRetainedSizeBytes(64<<20)),
	}
}

func (w *wbatch) add(kind uint8, k, v []byte) {
	w.ents = append(w.ents, went{off: len(w.data), klen: uint32(len(k)), vlen: uint32(len(v)), kind: kind})
	w.data = append(append(w.data, k...), v...)
}

// Set writes k = v; both are copied.
func (w *wbatch) Set(k, v []byte, _ *pebble.WriteOptions) error {
	w.add(wSet, k, v)
	return nil
}

// Delete deletes k.
func (w *wbatch) Delete(k []byte, _ *pebble.WriteOptions) error {
	w.add(wDelete, k, nil)
	return nil
}

// DeleteRange deletes the keys in [start, end).
func (w *wbatch) DeleteRange(start, end []byte, _ *pebble.WriteOptions) error {
	w.add(wDeleteRange, start, end)
	w.ranged = true
	return nil
}

// Reset empties the batch, keeping its buffers.
func (w *wbatch) Reset() {
	w.data, w.ents, w.order, w.ranged = w.data[:0], w.ents[:0], w.order[:0], false
	w.pb.Reset()
}

// Close releases the Pebble batch.
func (w *wbatch) Close() error { return w.pb.Close() }

// build returns the Pebble batch holding the writes, sorted by key unless a
// range deletion is among them (it deletes only what was written before
// it). It is called once, after the last write.
func (w *wbatch) build() (*pebble.Batch, error) {
	w.sort()
	for _, r := range w.order {
		e := &w.ents[r.i]
		k := w.key(e)
		v := w.data[e.off+int(e.klen) : e.off+int(e.klen)+int(e.vlen)]
		var err error
		switch e.kind {
		case wSet:
			err = w.pb.Set(k, v, nil)
		case wDelete:
			err = w.pb.Delete(k, nil)
		case wDeleteRange:
			err = w.pb.DeleteRange(k, v, nil)
		}
		if err != nil {
			return nil, err
		}
	}
	return w.pb, nil
}

// sort fills w.order: the entries by key, then arrival; in arrival order
// when the batch holds a range deletion. Keys are bucketed by their first
// byte (the key prefix: group, dedupe, timer …) and each bucket sorted by
// the 8 bytes after the prefix its keys share (a dedupe key's day, a
// group's "order-"), falling back to the whole key only on a tie.
func (w *wbatch) sort() {
	n := len(w.ents)
	w.order = slices.Grow(w.order[:0], n)[:n]
	if w.ranged {
		for i := range w.order {
			w.order[i] = wref{i: uint32(i)}
		}
		return
	}
	var start [257]int
	for i := range w.ents {
		start[w.first(i)+1]++
	}
	for b := 1; b <= 256; b++ {
		start[b] += start[b-1]
	}
	next := start
	for i := range w.ents { // stable: arrival order within a bucket
		b := w.first(i)
		w.order[next[b]] = wref{i: uint32(i)}
		next[b]++
	}
	for b := range 256 {
		bucket := w.order[start[b]:start[b+1]]
		if len(bucket) == 0 {
			continue
		}
		k0 := w.key(&w.ents[bucket[0].i])
		shared := len(k0)
		for _, r := range bucket[1:] {
			k := w.key(&w.ents[r.i])
			l := min(shared, len(k))
			p := 0
			for p < l && k[p] == k0[p] {
				p++
			}
			shared = p
		}
		for j := range bucket {
			var p [8]byte
			copy(p[:], w.key(&w.ents[bucket[j].i])[shared:])
			bucket[j].pre = binary.BigEndian.Uint64(p[:])
		}
		slices.SortFunc(bucket, func(a, b wref) int {
			if a.pre != b.pre {
				return cmp.Compare(a.pre, b.pre)
			}
			if c := bytes.Compare(w.key(&w.ents[a.i]), w.key(&w.ents[b.i])); c != 0 {
				return c
			}
			return cmp.Compare(a.i, b.i)
		})
	}
}

// first is the first byte of entry i's key (0 for an empty key, which
// sorts first in bucket 0).
func (w *wbatch) first(i int) int {
	if e := &w.ents[i]; e.klen > 0 {
		return int(w.data[e.off])
	}
	return 0
}

func (w *wbatch) key(e *went) []byte { return w.data[e.off : e.off+int(e.klen)] }
