package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// errCorrupt is wrapped by every decoding failure of a stored value.
var errCorrupt = errors.New("corrupt engine record")

// enc is a small append-only binary encoder for stored records. Records are
// written whole; the format is versioned by the store's format version.
type enc struct{ b []byte }

func (e *enc) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *enc) int(v int)        { e.varint(int64(v)) }
func (e *enc) str(s string)     { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *enc) bytes(p []byte)   { e.uvarint(uint64(len(p))); e.b = append(e.b, p...) }
func (e *enc) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

// time stores Unix nanoseconds; the zero time is stored as MinInt64.
func (e *enc) time(t time.Time) { e.varint(timeCode(t)) }

// timeCode is the integer enc.time writes: Unix nanoseconds, MinInt64 for
// the zero time.
func timeCode(t time.Time) int64 {
	if t.IsZero() {
		return math.MinInt64
	}
	return t.UnixNano()
}

// dec reads what enc wrote; the first error sticks and later reads return
// zero values, so callers check err once at the end.
type dec struct {
	b   []byte
	err error
}

func (d *dec) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated %s", errCorrupt, what)
	}
}

func (d *dec) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) int() int { return int(d.varint()) }

func (d *dec) raw() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("bytes")
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *dec) str() string { return string(d.raw()) }

func (d *dec) bytes() []byte {
	p := d.raw()
	if len(p) == 0 {
		return nil
	}
	return append([]byte(nil), p...)
}

func (d *dec) bool() bool {
	if d.err != nil {
		return false
	}
	if len(d.b) == 0 {
		d.fail("bool")
		return false
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v == 1
}

func (d *dec) time() time.Time {
	v := d.varint()
	if v == math.MinInt64 || d.err != nil {
		return time.Time{}
	}
	return time.Unix(0, v).UTC()
}

// count reads a length prefix and sanity-checks it against the bytes left, so
// a corrupt length never makes us allocate gigabytes.
func (d *dec) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("count")
		return 0
	}
	return int(n)
}

func (d *dec) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail("byte")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

// Compact times (group record v3): uvarint 0 is the zero time; an odd value
// is zigzag milliseconds shifted left by one (event times are almost always
// whole milliseconds: 6 bytes absolute, 1–3 bytes relative to an instance's
// start); 2 is followed by a varint of nanoseconds for any other time.
func (e *enc) ctime(ns int64, zero bool) {
	switch {
	case zero:
		e.uvarint(0)
	case ns%1e6 == 0:
		ms := ns / 1e6
		e.uvarint(uint64(ms<<1^ms>>63)<<1 | 1)
	default:
		e.uvarint(2)
		e.varint(ns)
	}
}

func (d *dec) ctime() (ns int64, zero bool) {
	x := d.uvarint()
	switch {
	case d.err != nil || x == 0:
		return 0, true
	case x&1 == 1:
		z := x >> 1
		return (int64(z>>1) ^ -int64(z&1)) * 1e6, false
	case x == 2:
		return d.varint(), false
	}
	d.fail("time")
	return 0, true
}

// time3 and rel3 are the compact forms of time and rel.
func (e *enc) time3(t time.Time) { e.ctime(t.UnixNano(), t.IsZero()) }
func (e *enc) rel3(t, base time.Time) {
	e.ctime(t.UnixNano()-base.UnixNano(), t.IsZero())
}

func (d *dec) time3() time.Time {
	ns, zero := d.ctime()
	if zero {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

func (d *dec) rel3(base time.Time) time.Time {
	ns, zero := d.ctime()
	if zero {
		return time.Time{}
	}
	return time.Unix(0, base.UnixNano()+ns).UTC()
}

// stamp is a time as Unix nanoseconds with the sign bit flipped, so that
// the zero value is the zero time (nanoseconds MinInt64, a time outside what
// UnixNano represents): 8 bytes and no pointer (a time.Time is 24 with one),
// for the element instances and triggers that every active instance holds.
// It keeps no location: times read back are UTC, as times decoded from the
// store always were.
type stamp int64

const stampZero stamp = 0

func stampNS(ns int64) stamp { return stamp(ns ^ math.MinInt64) }

func stampOf(t time.Time) stamp {
	if t.IsZero() {
		return stampZero
	}
	return stampNS(t.UnixNano())
}

func (s stamp) ns() int64 { return int64(s) ^ math.MinInt64 }

func (s stamp) time() time.Time {
	if s == stampZero {
		return time.Time{}
	}
	return time.Unix(0, s.ns()).UTC()
}

// enc.relStamp writes a stamp as rel3 writes a time; dec.rel3Stamp reads
// what rel3 wrote, dec.relStamp a time relative to base in v2 records
// (varint nanoseconds, MinInt64 for the zero time).
func (e *enc) relStamp(s stamp, base time.Time) {
	e.ctime(s.ns()-base.UnixNano(), s == stampZero)
}

func (d *dec) rel3Stamp(base time.Time) stamp {
	ns, zero := d.ctime()
	if zero {
		return stampZero
	}
	return stampNS(base.UnixNano() + ns)
}

func (d *dec) relStamp(base time.Time) stamp {
	v := d.varint()
	if v == math.MinInt64 || d.err != nil {
		return stampZero
	}
	return stampNS(base.UnixNano() + v)
}

// symtab is a record's table of correlation keys (group record v3): a key
// written again is a one-byte reference to its first occurrence. Encoder
// and decoder fill it the same way, so it is not stored.
type symtab struct {
	n int
	s [16]string
}

func (t *symtab) add(s string) {
	if t.n < len(t.s) {
		t.s[t.n] = s
		t.n++
	}
}

// sym writes s as uvarint(i+1) when it is entry i, else as 0 and the string.
func (e *enc) sym(t *symtab, s string) {
	for i := range t.n {
		if t.s[i] == s {
			e.uvarint(uint64(i + 1))
			return
		}
	}
	e.uvarint(0)
	e.str(s)
	t.add(s)
}

func (d *dec) sym(t *symtab) string {
	i := d.uvarint()
	if d.err != nil {
		return ""
	}
	if i == 0 {
		s := d.str()
		t.add(s)
		return s
	}
	if i > uint64(t.n) {
		d.fail("string reference")
		return ""
	}
	return t.s[i-1]
}

// symbols is the engine's dictionary of model strings (process and element
// ids, message names, flow ids, states and reasons — never correlation keys
// or message ids, which are unbounded): group and path records store a
// string as its id, one or two bytes. Ids are assigned when a string is
// first written and stored (s<id>) in the batch that first uses them, so a
// record never refers to a symbol its batch did not make durable.
// Guarded by Engine.mu.
type symbols struct {
	ids  map[string]uint64
	strs []string // id-1 → string
	b    *wbatch  // the batch being built: where new symbols go; nil: write literals
	// missed is set when a string was written as a literal for want of
	// a batch to add it to (see readOnly).
	missed bool
}

// readOnly returns a view of the dictionary that never adds to it: a
// string without an id is written as a literal and sets the view's missed.
// Views may encode concurrently as long as nobody adds to the dictionary.
func (sy *symbols) readOnly() *symbols { return &symbols{ids: sy.ids, strs: sy.strs} }

func newSymbols() *symbols { return &symbols{ids: map[string]uint64{}} }

// truncate forgets the symbols from n on (a rolled-back batch's).
func (sy *symbols) truncate(n int) {
	for _, s := range sy.strs[n:] {
		delete(sy.ids, s)
	}
	clear(sy.strs[n:])
	sy.strs = sy.strs[:n]
}

func (sy *symbols) load(id uint64, s string) error {
	if id != uint64(len(sy.strs))+1 {
		return fmt.Errorf("%w: symbol %d after %d", errCorrupt, id, len(sy.strs))
	}
	sy.strs = append(sy.strs, s)
	sy.ids[s] = id
	return nil
}

// gsym writes s as its symbol id, or as 0 and the string when there is no
// dictionary to add it to.
func (e *enc) gsym(sy *symbols, s string) {
	if sy != nil {
		if id, ok := sy.ids[s]; ok {
			e.uvarint(id)
			return
		}
		if sy.b != nil {
			sy.strs = append(sy.strs, s)
			id := uint64(len(sy.strs))
			sy.ids[s] = id
			sy.b.Set(symbolKey(id), []byte(s), nil)
			e.uvarint(id)
			return
		}
		sy.missed = true
	}
	e.uvarint(0)
	e.str(s)
}

func (d *dec) gsym(sy *symbols) string {
	id := d.uvarint()
	switch {
	case d.err != nil:
		return ""
	case id == 0:
		return d.str()
	case sy == nil || id > uint64(len(sy.strs)):
		d.fail("symbol reference")
		return ""
	}
	return sy.strs[id-1]
}
