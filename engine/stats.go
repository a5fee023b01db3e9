package engine

// Stats is what the engine holds in memory and what its store (Pebble) has
// written and still has to do: for dashboards and alerts (a growing
// compaction debt or L0 sublevel count means compactions do not keep up)
// and for benchmarks.
type Stats struct {
	CachedGroups   int    // correlation-key groups in the memory cache
	WALBytes       uint64 // bytes logged to the write-ahead log since open
	FlushedBytes   uint64 // bytes written by memtable flushes (tables and blob files)
	CompactedBytes uint64 // bytes written by compactions (tables and blob files)
	Flushes        int64
	Compactions    int64
	CompactionDebt uint64 // bytes Pebble estimates compactions still have to rewrite
	L0Sublevels    int32  // read amplification of level 0
	L0Files        int64
	DiskBytes      uint64 // tables, blob files and logs on disk
}

// Stats returns the engine's current figures; counters count from Open.
func (e *Engine) Stats() (Stats, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return Stats{}, ErrClosed
	}
	m := e.db.Metrics()
	s := Stats{
		CachedGroups:   len(e.cache),
		WALBytes:       m.WAL.BytesIn,
		Flushes:        m.Flush.Count,
		Compactions:    m.Compact.Count,
		CompactionDebt: m.Compact.EstimatedDebt,
		L0Sublevels:    m.Levels[0].Sublevels,
		L0Files:        m.Levels[0].TablesCount,
		DiskBytes:      m.DiskSpaceUsage(),
	}
	// per level: Metrics.Total counts the WAL as flushed too
	for i := range m.Levels {
		l := &m.Levels[i]
		s.FlushedBytes += l.TableBytesFlushed + l.BlobBytesFlushed
		s.CompactedBytes += l.TableBytesCompacted + l.BlobBytesCompacted
	}
	return s, nil
}
