package engine

import (
	"hash/maphash"
)

// bloom is a fixed-size Bloom filter. The engine uses chains of them to answer
// "certainly never seen" without reading the store: for message ids
// (deduplication) and for correlation keys (does a group exist on disk).
type bloom struct {
	bits  []uint64
	m     uint64 // number of bits
	k     int
	n     int // entries added
	limit int // entries it was sized for

}

// newBloom sizes a filter for entries at the false-positive rate of level i
// of a chain: 0.1 % for the first filter, halved for every later one (15
// bits per entry and 10 probes, plus 1.5 bits and one probe per level). A
// false positive costs a store read on the hot path, a bit costs 1/8 byte.
func newBloom(entries, level int) *bloom {
	bitsPerEntry := 15 + (3*level+1)/2
	m := uint64(entries * bitsPerEntry)
	m = (m + 63) &^ 63
	return &bloom{bits: make([]uint64, m/64), m: m, k: 10 + level, limit: entries}
}

var bloomSeed = maphash.MakeSeed()

func bloomHash(s string) (uint64, uint64) {
	h1 := maphash.String(bloomSeed, s)
	h2 := h1>>33 | h1<<31
	return h1, h2 | 1
}

func (b *bloom) add(h1, h2 uint64) {
	for i := 0; i < b.k; i++ {
		bit := (h1 + uint64(i)*h2) % b.m
		b.bits[bit/64] |= 1 << (bit % 64)
	}
	b.n++
}

func (b *bloom) has(h1, h2 uint64) bool {
	for i := 0; i < b.k; i++ {
		bit := (h1 + uint64(i)*h2) % b.m
		if b.bits[bit/64]&(1<<(bit%64)) == 0 {
			return false
		}
	}
	return true
}

// bloomChain is a scalable Bloom filter: when its newest filter is full it
// appends one twice as large with half the false-positive rate, so the rate
// of the whole chain stays under 0.2 % however many entries arrive, a lookup
// probes O(log n) filters, and memory stays near 2 bytes per entry.
type bloomChain struct {
	size    int
	filters []*bloom
}

func newBloomChain(size int) *bloomChain { return &bloomChain{size: size} }

func (c *bloomChain) add(s string) {
	if n := len(c.filters); n == 0 || c.filters[n-1].n >= c.filters[n-1].limit {
		c.filters = append(c.filters, newBloom(c.size<<min(n, 16), n))
	}
	h1, h2 := bloomHash(s)
	c.filters[len(c.filters)-1].add(h1, h2)
}

func (c *bloomChain) has(s string) bool {
	h1, h2 := bloomHash(s)
	// newest first: recent entries are the likeliest to be asked about
	for i := len(c.filters) - 1; i >= 0; i-- {
		if c.filters[i].has(h1, h2) {
			return true
		}
	}
	return false
}

func (c *bloomChain) bytes() int {
	n := 0
	for _, f := range c.filters {
		n += len(f.bits) * 8
	}
	return n
}
