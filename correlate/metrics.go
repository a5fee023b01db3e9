package correlate

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the consumer's Prometheus metrics. Labels are bounded by the
// configuration (source, topic, partition) and the fixed result/reason sets.
type metrics struct {
	messages    *prometheus.CounterVec // source, result
	invalid     *prometheus.CounterVec // source, reason
	deadLetters *prometheus.CounterVec // source
	batches     prometheus.Counter
	batchSize   prometheus.Histogram
	applySecs   prometheus.Histogram
	lag         *prometheus.GaugeVec // topic, partition
	watermark   prometheus.Gauge
	partitions  prometheus.Gauge
	rebalances  prometheus.Counter
	httpEvents  *prometheus.CounterVec // result
	saturated   prometheus.Counter
	tickFired   prometheus.Counter
	tickExpired prometheus.Counter
	idleSecs    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tracker_correlate_messages_total",
			Help: "Messages applied to the engine, by source and outcome.",
		}, []string{"source", "result"}),
		invalid: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tracker_correlate_invalid_records_total",
			Help: "Records that could not be mapped (DECODE_ERROR, UNKNOWN_MESSAGE without a name, MISSING_CORRELATION_KEY).",
		}, []string{"source", "reason"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tracker_correlate_dead_letters_total",
			Help: "Records written to a source's dead_letter_topic.",
		}, []string{"source"}),
		batches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tracker_correlate_batches_total",
			Help: "Batches applied to the engine.",
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tracker_correlate_batch_size",
			Help:    "Messages per applied batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 7),
		}),
		applySecs: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tracker_correlate_apply_seconds",
			Help:    "Time to apply one batch to the engine, durably.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tracker_correlate_lag_records",
			Help: "Records behind the partition's high watermark, per assigned partition.",
		}, []string{"topic", "partition"}),
		watermark: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tracker_correlate_watermark_seconds",
			Help: "Event-time watermark (Unix seconds) given to the engine's timers; 0 while unknown.",
		}),
		partitions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tracker_correlate_assigned_partitions",
			Help: "Partitions assigned to this consumer.",
		}),
		rebalances: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tracker_correlate_generations_total",
			Help: "Consumer group generations joined (start and every rebalance).",
		}),
		httpEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tracker_correlate_http_events_total",
			Help: "Events ingested over HTTP, by outcome.",
		}, []string{"result"}),
		saturated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tracker_correlate_http_saturated_total",
			Help: "HTTP ingestion requests refused with 429 because the pipeline was full.",
		}),
		tickFired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tracker_correlate_timers_fired_total",
			Help: "Timers fired by engine ticks.",
		}),
		tickExpired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tracker_correlate_buffer_expired_total",
			Help: "Buffered messages whose TTL passed (BUFFER_EXPIRED).",
		}),
		idleSecs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tracker_correlate_engine_idle_seconds_total",
			Help: "Time the consumer had no batch for the engine (waiting for records or for a batch to fill); low under load means the engine is what limits throughput.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.messages, m.invalid, m.deadLetters, m.batches, m.batchSize, m.applySecs,
		m.lag, m.watermark, m.partitions, m.rebalances, m.httpEvents, m.saturated, m.tickFired, m.tickExpired, m.idleSecs} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
