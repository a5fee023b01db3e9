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
}

// engineMetrics are exported in this order with the values of engineValues.
var engineMetrics = []engineMetric{
	{"tracker_engine_cached_groups", "Correlation-key groups in the engine's memory cache.", prometheus.GaugeValue},
	{"tracker_engine_store_wal_bytes_total", "Bytes the engine store logged to its write-ahead log since start.", prometheus.CounterValue},
	{"tracker_engine_store_flushed_bytes_total", "Bytes the engine store wrote by memtable flushes since start.", prometheus.CounterValue},
	{"tracker_engine_store_compacted_bytes_total", "Bytes the engine store wrote by compactions since start.", prometheus.CounterValue},
	{"tracker_engine_store_flushes_total", "Memtable flushes of the engine store since start.", prometheus.CounterValue},
	{"tracker_engine_store_compactions_total", "Compactions of the engine store since start.", prometheus.CounterValue},
	{"tracker_engine_store_compaction_debt_bytes", "Bytes the engine store's compactions estimate they still have to rewrite.", prometheus.GaugeValue},
	{"tracker_engine_store_l0_sublevels", "Sublevels of the engine store's level 0 (its read amplification).", prometheus.GaugeValue},
	{"tracker_engine_store_l0_files", "Tables in the engine store's level 0.", prometheus.GaugeValue},
	{"tracker_engine_store_disk_bytes", "Disk space the engine store uses (tables, blob files, logs).", prometheus.GaugeValue},
}

func engineValues(s engine.Stats) []float64 {
	return []float64{
		float64(s.CachedGroups), float64(s.WALBytes), float64(s.FlushedBytes), float64(s.CompactedBytes),
		float64(s.Flushes), float64(s.Compactions), float64(s.CompactionDebt), float64(s.L0Sublevels),
		float64(s.L0Files), float64(s.DiskBytes),
	}
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
	for i, v := range engineValues(s) {
		ch <- prometheus.MustNewConstMetric(c.descs[i], engineMetrics[i].kind, v)
	}
}
