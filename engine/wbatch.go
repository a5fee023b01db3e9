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
	ranged bool // holds a range deletion: applied in arrival order
	pb     *pebble.Batch
}

type went struct {
	pre  uint64 // the key's first 8 bytes, big-endian, zero-padded
	off  int    // key at data[off:off+klen], then the value (or range end)
	klen uint32
	vlen uint32
	seq  uint32 // arrival order: ties between writes to one key
	kind uint8
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
	var p [8]byte
	copy(p[:], k)
	w.ents = append(w.ents, went{
		pre: binary.BigEndian.Uint64(p[:]), off: len(w.data),
		klen: uint32(len(k)), vlen: uint32(len(v)), seq: uint32(len(w.ents)), kind: kind,
	})
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
	w.data, w.ents, w.ranged = w.data[:0], w.ents[:0], false
	w.pb.Reset()
}

// Close releases the Pebble batch.
func (w *wbatch) Close() error { return w.pb.Close() }

// build returns the Pebble batch holding the writes, sorted by key unless a
// range deletion is among them (it deletes only what was written before
// it). It is called once, after the last write.
func (w *wbatch) build() (*pebble.Batch, error) {
	if !w.ranged {
		slices.SortFunc(w.ents, func(a, b went) int {
			if a.pre != b.pre {
				return cmp.Compare(a.pre, b.pre)
			}
			if c := bytes.Compare(w.key(&a), w.key(&b)); c != 0 {
				return c
			}
			return cmp.Compare(a.seq, b.seq)
		})
	}
	for i := range w.ents {
		e := &w.ents[i]
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

func (w *wbatch) key(e *went) []byte { return w.data[e.off : e.off+int(e.klen)] }
