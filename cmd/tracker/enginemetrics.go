package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tracker-dev/tracker/engine"
)

// engineStats is what engineCollector needs of the embedded engine.
type engineStats interface {
	Stats() (engine.Stats, error)
}

// engineCollector exports the embedded engine's memory and store figures on
// /metrics, read when scraped. A compaction debt or an L0 sublevel count that
// keeps growing means the store's compactions do not keep up with the load.
type engineCollector struct {
	e     engineStats
	descs []*prometheus.Desc
}

type engineMetric struct {
	name, help string
	kind       prometheus.ValueType
	value      func(engine.Stats) float64
}

var engineMetrics = []engineMetric{
	{"tracker_engine_cached_groups", "Correlation-key groups in the engine's memory cache.", prometheus.GaugeValue,
		func(s engine.Stats) float64 { return float64(s.CachedGroups) }},
	{"tracker_engine_store_wal_bytes_total", "Bytes the engine store logged to its write-ahead log since start.", prometheus.CounterValue,
		func(s engine.Stats) float64 { return float64(s.WALBytes) }},
	{"tracker_engine_store_flushed_bytes_total", "Bytes the engine store wrote by memtable flushes since start.", prometheus.CounterValue,
		func(s engine.Stats) float64 { return float64(s.FlushedBytes) }},
	{"tracker_engine_store_compacted_bytes_total", "Bytes the engine store wrote by compactions since start.", prometheus.CounterValue,
		func(s engine.Stats) float64 { return float64(s.CompactedBytes) }},
	{"tracker_engine_store_flushes_total", "Memtable flushes of the engine store since start.", prometheus.CounterValue,
		func(s engine.Stats) float64 { return float64(s.Flushes) }},
	{"tracker_engine_store_compactions_total", "Compactions of the engine store since start.", prometheus.CounterValue,
		func(s engine.Stats) float64 { return float64(s.Compactions) }},
	{"tracker_engine_store_compaction_debt_bytes", "Bytes the engine store's compactions estimate they still have to rewrite.", prometheus.GaugeValue,
		func(s engine.Stats) float64 { return float64(s.CompactionDebt) }},
	{"tracker_engine_store_l0_sublevels", "Sublevels of the engine store's level 0 (its read amplification).", prometheus.GaugeValue,
		func(s engine.Stats) float64 { return float64(s.L0Sublevels) }},
	{"tracker_engine_store_l0_files", "Tables in the engine store's level 0.", prometheus.GaugeValue,
		func(s engine.Stats) float64 { return float64(s.L0Files) }},
	{"tracker_engine_store_disk_bytes", "Disk space the engine store uses (tables, blob files, logs).", prometheus.GaugeValue,
		func(s engine.Stats) float64 { return float64(s.DiskBytes) }},
}

func newEngineCollector(e engineStats) *engineCollector {
	c := &engineCollector{e: e}
	for _, m := range engineMetrics {
		c.descs = append(c.descs, prometheus.NewDesc(m.name, m.help, nil, nil))
	}
	return c
}

func (c *engineCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// Collect reports nothing once the engine is closed.
func (c *engineCollector) Collect(ch chan<- prometheus.Metric) {
	s, err := c.e.Stats()
	if err != nil {
		return
	}
	for i, m := range engineMetrics {
		ch <- prometheus.MustNewConstMetric(c.descs[i], m.kind, m.value(s))
	}
}
