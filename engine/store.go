package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Store layout. Every key starts with a one-byte prefix that names its key
// range, like Zeebe's column families. Append-only data (feed, dedupe keys,
// outbox) lives in ranges of its own, so the mutable ranges stay small and
// compaction of appended data is cheap (whole dedupe days go with one
// DeleteRange).
const (
	pMeta     = 'm' // m<name>                     → value
	pGroup    = 'g' // g<correlation key>          → group record
	pInstance = 'n' // n<instance key>              → correlation key of its group
	pTimer    = 't' // t<due><inst><elem><target>   → correlation key
	pHeld     = 'h' // h<event time><ck>\x00<id>    → ""  (skip-ahead messages by event time)
	pExpiry   = 'x' // x<expiry><ck>\x00<id>        → ""  (buffered messages by expiry)
	pCleanup  = 'c' // c<at><ck>\x00<inst>          → ""  (ended instances by removal time)
	pDedupe   = 'd' // d<day><message id>           → ""
	pFeed     = 'f' // f<seq>                       → change record
	pOutbox   = 'o' // o<seq>                       → action record (pending until delivered)
	pPosition = 'p' // p<topic>\x00<partition>      → next offset
	pFailed   = 'y' // y<action id>                 → action record that was given up (for RetryAction)
	pSymbol   = 's' // s<id>                        → a model string (process or element id, message name)
)

// formatVersion is the on-disk format this build writes. A store with a
// higher version was written by a newer tracker and is refused; a lower one
// is upgraded on open (2: group record v3 and symbols).
const formatVersion = 2

var (
	keyFormat   = []byte("mformat")
	keyCounters = []byte("mcounters")
)

// ErrNewerFormat is returned (wrapped) by Open for a store written by a newer
// tracker.
var ErrNewerFormat = errors.New("store was written by a newer tracker version")

// ErrLocked is returned (wrapped) by Open when another engine (in this or
// another process) has the directory open.
var ErrLocked = errors.New("store directory is in use by another engine")

// ErrCorrupt is returned (wrapped) when a stored record cannot be decoded.
var ErrCorrupt = errCorrupt

func u64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

// ts encodes a time so that byte order is time order (also before 1970).
func ts(b []byte, t time.Time) []byte {
	var v int64
	if t.IsZero() {
		v = math.MinInt64
	} else {
		v = t.UnixNano()
	}
	return u64(b, uint64(v)^(1<<63))
}

func readTS(b []byte) time.Time {
	v := int64(binary.BigEndian.Uint64(b) ^ (1 << 63))
	if v == math.MinInt64 {
		return time.Time{}
	}
	return time.Unix(0, v).UTC()
}

func groupKey(ck string) []byte {
	k := make([]byte, 0, 1+len(ck))
	return append(append(k, pGroup), ck...)
}

func instanceKey(key int64) []byte { return u64([]byte{pInstance}, uint64(key)) }

func timerKey(due time.Time, inst, elem int64, target string) []byte {
	return appendTimerKey(make([]byte, 0, 25+len(target)), due, inst, elem, target)
}

// appendTimerKey builds a timer key in k's storage (Batch.Set copies keys).
func appendTimerKey(k []byte, due time.Time, inst, elem int64, target string) []byte {
	k = ts(append(k[:0], pTimer), due)
	k = u64(k, uint64(inst))
	k = u64(k, uint64(elem))
	return append(k, target...)
}

func msgIndexKey(prefix byte, at time.Time, ck, id string) []byte {
	k := make([]byte, 0, 10+len(ck)+len(id))
	k = ts(append(k, prefix), at)
	k = append(k, ck...)
	k = append(k, 0)
	return append(k, id...)
}

func cleanupKey(at time.Time, ck string, inst int64) []byte {
	k := make([]byte, 0, 18+len(ck))
	k = ts(append(k, pCleanup), at)
	k = append(k, ck...)
	k = append(k, 0)
	return u64(k, uint64(inst))
}

// splitCK returns the correlation key of an h/x/c index key.
func splitCK(k []byte) (string, []byte) {
	rest := k[9:]
	for i, c := range rest {
		if c == 0 {
			return string(rest[:i]), rest[i+1:]
		}
	}
	return string(rest), nil
}

// day numbers dedupe buckets: days since the epoch of the read time.
func day(t time.Time) uint32 { return uint32(t.Unix() / 86400) }

func dedupeKey(d uint32, id string) []byte {
	k := make([]byte, 0, 5+len(id))
	k = binary.BigEndian.AppendUint32(append(k, pDedupe), d)
	return append(k, id...)
}

func feedKey(seq uint64) []byte   { return u64([]byte{pFeed}, seq) }
func outboxKey(seq uint64) []byte { return u64([]byte{pOutbox}, seq) }

func failedKey(id string) []byte { return append([]byte{pFailed}, id...) }

func symbolKey(id uint64) []byte { return u64([]byte{pSymbol}, id) }

func positionKey(tp TopicPartition) []byte {
	k := make([]byte, 0, 6+len(tp.Topic))
	k = append(append(k, pPosition), tp.Topic...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint32(k, uint32(tp.Partition))
}

// prefixEnd returns the first key after every key with the prefix.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

// counters are the engine's sequences, persisted in every batch.
type counters struct {
	inst   int64  // last instance / element instance key
	feed   uint64 // last change-feed seq
	action uint64 // last outbox seq
}

func (c counters) encode() []byte {
	e := enc{}
	e.uvarint(1)
	e.varint(c.inst)
	e.uvarint(c.feed)
	e.uvarint(c.action)
	return e.b
}

func decodeCounters(b []byte) (counters, error) {
	d := dec{b: b}
	if v := d.uvarint(); v != 1 {
		return counters{}, fmt.Errorf("%w: counters record version %d", errCorrupt, v)
	}
	c := counters{inst: d.varint(), feed: d.uvarint(), action: d.uvarint()}
	return c, d.err
}

// get reads one key; found is false for a missing key.
func get(db *pebble.DB, k []byte) (v []byte, found bool, err error) {
	val, closer, err := db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	v = append([]byte(nil), val...)
	closer.Close()
	return v, true, nil
}
