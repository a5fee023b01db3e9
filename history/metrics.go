package history

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the projector's Prometheus metrics (no labels).
type metrics struct {
	applied    prometheus.Counter
	skipped    prometheus.Counter
	failures   prometheus.Counter
	checkpoint prometheus.Gauge
	batchSecs  prometheus.Histogram
	cleaned    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		applied: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tracker_history_changes_applied_total",
			Help: "Engine change-feed entries projected into the history backend.",
		}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tracker_history_changes_skipped_total",
			Help: "Change-feed entries with an unreadable payload, logged and skipped.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tracker_history_failures_total",
			Help: "Failed feed reads or backend writes (each is retried with backoff).",
		}),
		checkpoint: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tracker_history_checkpoint",
			Help: "Feed sequence number of the last change in the history backend.",
		}),
		batchSecs: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tracker_history_batch_seconds",
			Help:    "Time to project and write one batch of changes.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		cleaned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tracker_history_retention_deleted_instances_total",
			Help: "Finished instances deleted by retention cleanup.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.applied, m.skipped, m.failures, m.checkpoint, m.batchSecs, m.cleaned} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register history metrics: %w", err)
		}
	}
	return m, nil
}
