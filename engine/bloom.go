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

const (
	bloomBitsPerEntry = 10 // ~1 % false positives with k = 7
	bloomHashes       = 7
)

func newBloom(entries int) *bloom {
	m := uint64(entries * bloomBitsPerEntry)
	m = (m + 63) &^ 63
	return &bloom{bits: make([]uint64, m/64), m: m, k: bloomHashes, limit: entries}
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

// bloomChain grows by appending filters, so the false-positive rate stays
// near 1 % however many entries arrive; memory is ~1.25 bytes per entry.
type bloomChain struct {
	size    int
	filters []*bloom
}

func newBloomChain(size int) *bloomChain { return &bloomChain{size: size} }

func (c *bloomChain) add(s string) {
	if len(c.filters) == 0 || c.filters[len(c.filters)-1].n >= c.size {
		c.filters = append(c.filters, newBloom(c.size))
	}
	h1, h2 := bloomHash(s)
	c.filters[len(c.filters)-1].add(h1, h2)
}

func (c *bloomChain) has(s string) bool {
	h1, h2 := bloomHash(s)
	for _, f := range c.filters {
		if f.has(h1, h2) {
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
