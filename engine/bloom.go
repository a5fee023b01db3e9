package engine

import (
	"hash/maphash"
	"math/bits"
)

// bloom is a fixed-size blocked Bloom filter: all probes of a key fall in
// one 512-bit block (one cache line), so an add or a miss costs one memory
// access instead of one per probe. The engine uses chains of them to answer
// "certainly never seen" without reading the store: for message ids
// (deduplication) and for correlation keys (does a group exist on disk).
type bloom struct {
	bits   []uint64
	blocks uint64 // number of 512-bit blocks
	k      int
	n      int // entries added
	limit  int // entries it was sized for
}

// newBloom sizes a filter for entries at the false-positive rate of level i
// of a chain: about 0.1 % for the first filter, halved for every later one
// (16 bits per entry and 10 probes, plus 1.5 bits and one probe per level;
// a blocked filter needs a bit or so more than a classic one for the same
// rate). A false positive costs a store read on the hot path, a bit costs
// 1/8 byte.
func newBloom(entries, level int) *bloom {
	bitsPerEntry := 16 + (3*level+1)/2
	blocks := (uint64(entries*bitsPerEntry) + 511) / 512
	return &bloom{bits: make([]uint64, blocks*8), blocks: blocks, k: 10 + level, limit: entries}
}

var bloomSeed = maphash.MakeSeed()

func bloomHash(s string) uint64 { return maphash.String(bloomSeed, s) }

// block returns the index of the first word of the key's block; the high
// bits of the hash pick it, the probes inside come from re-mixing the hash
// (a multiply per probe: arithmetic-progression probes inside a block
// measured several times the false positives).
func (b *bloom) block(h uint64) uint64 {
	blk, _ := bits.Mul64(h, b.blocks)
	return blk * 8
}

func nextProbe(x uint64) (uint64, uint64) {
	x = x*0x9e3779b97f4a7c15 + 0x632be59bd9b4e019
	return x, x >> 55 // a bit in the 512-bit block
}

func (b *bloom) add(h uint64) {
	base, x := b.block(h), h
	var at uint64
	for range b.k {
		x, at = nextProbe(x)
		b.bits[base+at>>6] |= 1 << (at & 63)
	}
	b.n++
}

func (b *bloom) has(h uint64) bool {
	base, x := b.block(h), h
	var at uint64
	for range b.k {
		x, at = nextProbe(x)
		if b.bits[base+at>>6]&(1<<(at&63)) == 0 {
			return false
		}
	}
	return true
}

// bloomChain is a scalable Bloom filter: when its newest filter is full it
// appends one four times as large with half the false-positive rate, so the
// rate of the whole chain stays under 0.2 % however many entries arrive, a
// lookup probes O(log₄ n) filters, and memory stays near 2–3 bytes per
// entry. A lookup of an id never seen (the common case) costs a cache miss
// per filter: growing by 4 rather than 2 made it 116 → 60 ns with 5M ids
// (BenchmarkBloomChainMiss: 3 filters instead of 5).
type bloomChain struct {
	size    int
	filters []*bloom
}

func newBloomChain(size int) *bloomChain { return &bloomChain{size: size} }

func (c *bloomChain) add(s string) { c.addHash(bloomHash(s)) }

// addHash adds the entry whose bloomHash is h.
func (c *bloomChain) addHash(h uint64) {
	if n := len(c.filters); n == 0 || c.filters[n-1].n >= c.filters[n-1].limit {
		c.filters = append(c.filters, newBloom(c.size<<min(2*n, 24), n))
	}
	c.filters[len(c.filters)-1].add(h)
}

func (c *bloomChain) has(s string) bool { return c.hasHash(bloomHash(s)) }

// hasHash reports whether the entry whose bloomHash is h may have been added.
func (c *bloomChain) hasHash(h uint64) bool {
	// newest first: recent entries are the likeliest to be asked about
	for i := len(c.filters) - 1; i >= 0; i-- {
		if c.filters[i].has(h) {
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
