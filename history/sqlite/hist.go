package sqlite

import (
	"encoding/binary"
	"errors"
	"math"
	"sort"
	"time"

	"github.com/tracker-dev/tracker/history"
)

// histRatio is the width of a histogram bucket: bucket b > 0 holds durations
// in [histRatio^(b-1), histRatio^b) ms, so a percentile read from the
// histogram is within 1 % of the exact value.
const histRatio = 1.02

var logRatio = math.Log(histRatio)

// hist is a sparse log-bucket histogram of durations in milliseconds.
type hist map[int]int64

func bucketOf(ms int64) int {
	if ms <= 0 {
		return 0
	}
	return 1 + int(math.Floor(math.Log(float64(ms))/logRatio))
}

// bucketValue is the geometric middle of a bucket.
func bucketValue(b int) float64 {
	if b == 0 {
		return 0
	}
	return math.Exp((float64(b) - 0.5) * logRatio)
}

func (h hist) encode(dst []byte) []byte {
	keys := make([]int, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	prev := 0
	for _, k := range keys {
		dst = binary.AppendUvarint(dst, uint64(k-prev))
		dst = binary.AppendUvarint(dst, uint64(h[k]))
		prev = k
	}
	return dst
}

var errBadHist = errors.New("corrupt duration histogram")

func decodeHist(b []byte) (hist, error) {
	h := hist{}
	return h, h.decodeAdd(b)
}

func (h hist) decodeAdd(b []byte) error {
	k := 0
	for len(b) > 0 {
		d, n := binary.Uvarint(b)
		if n <= 0 {
			return errBadHist
		}
		b = b[n:]
		c, n := binary.Uvarint(b)
		if n <= 0 {
			return errBadHist
		}
		b = b[n:]
		k += int(d)
		h[k] += int64(c)
	}
	return nil
}

type hourKey struct {
	pid, el string
	hour    int64
	ver     int
}

const hourNS = int64(time.Hour)

func hourOf(t time.Time) int64 {
	n := t.UnixNano()
	h := n / hourNS
	if n < 0 && n%hourNS != 0 {
		h--
	}
	return h
}

// hourAgg aggregates the finished element instances of one hour.
type hourAgg struct {
	active, completed, skipped, terminated, sumMs int64
	hist                                          hist
}

// add counts a finished element instance.
func (a *hourAgg) add(d *history.ElementInstance) {
	switch d.State {
	case history.ElementCompleted:
		a.completed++
		a.sumMs += d.DurationMs
		if a.hist == nil {
			a.hist = hist{}
		}
		a.hist[bucketOf(d.DurationMs)]++
	case history.ElementSkipped:
		a.skipped++
	case history.ElementTerminated:
		a.terminated++
	}
}

func (a *hourAgg) merge(b *hourAgg) {
	a.active += b.active
	a.completed += b.completed
	a.skipped += b.skipped
	a.terminated += b.terminated
	a.sumMs += b.sumMs
	if a.hist == nil {
		a.hist = hist{}
	}
	for k, v := range b.hist {
		a.hist[k] += v
	}
}

// denseHist accumulates encoded histograms by bucket index: summing many
// hours of statistics without a map per row.
type denseHist []int64

func (d *denseHist) addEncoded(b []byte) error {
	k := 0
	for len(b) > 0 {
		delta, n := binary.Uvarint(b)
		if n <= 0 {
			return errBadHist
		}
		b = b[n:]
		c, n := binary.Uvarint(b)
		if n <= 0 {
			return errBadHist
		}
		b = b[n:]
		k += int(delta)
		if k < 0 || k > 1<<16 {
			return errBadHist
		}
		if k >= len(*d) {
			*d = append(*d, make([]int64, k+1-len(*d))...)
		}
		(*d)[k] += int64(c)
	}
	return nil
}

// percentile returns the nearest-rank p-quantile (0 < p <= 1) of n samples.
func (d denseHist) percentile(p float64, n int64) float64 {
	if n == 0 {
		return 0
	}
	rank := max(int64(math.Ceil(p*float64(n))), 1)
	var cum int64
	last := 0
	for k, c := range d {
		if c == 0 {
			continue
		}
		last = k
		cum += c
		if cum >= rank {
			return bucketValue(k)
		}
	}
	return bucketValue(last)
}
