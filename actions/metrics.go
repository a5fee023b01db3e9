package actions

import (
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics of the relay. Labels are the action type and target name, both
// bounded by the deployed models and the config; never per instance.
type metrics struct {
	raisedC, deliveredC, failedC *prometheus.CounterVec
	attemptErrs                  *prometheus.CounterVec

	mu     sync.Mutex
	cached map[counterKey]prometheus.Counter // WithLabelValues hashes labels on every call
}

type counterKey struct {
	vec         *prometheus.CounterVec
	typ, target string
}

// counter returns the child of vec for an action type and target.
func (m *metrics) counter(vec *prometheus.CounterVec, typ, target string) prometheus.Counter {
	k := counterKey{vec, typ, target}
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.cached[k]
	if c == nil {
		c = vec.WithLabelValues(typ, target)
		m.cached[k] = c
	}
	return c
}

func newMetrics(reg prometheus.Registerer, r *Relay) (*metrics, error) {
	labels := []string{"type", "target"}
	m := &metrics{
		cached: map[counterKey]prometheus.Counter{},
		raisedC: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tracker_actions_raised_total",
			Help: "Actions read from the outbox for delivery (after a restart, pending actions count again).",
		}, labels),
		deliveredC: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tracker_actions_delivered_total",
			Help: "Actions acknowledged by their target (Kafka acks=all, or a 2xx webhook answer).",
		}, labels),
		failedC: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tracker_actions_failed_total",
			Help: "Actions given up after their retry budget or a permanent error; each raised an incident.",
		}, labels),
		attemptErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tracker_action_attempt_errors_total",
			Help: "Failed delivery attempts that will be retried, by target.",
		}, []string{"target"}),
	}
	if reg == nil {
		return m, nil
	}
	depth := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "tracker_actions_outbox_depth",
		Help: "Undelivered actions the relay has read from the outbox.",
	}, func() float64 {
		r.mu.Lock()
		defer r.mu.Unlock()
		return float64(r.depth)
	})
	oldest := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "tracker_actions_oldest_undelivered_seconds",
		Help: "How long the oldest undelivered action has waited since the relay read it (0 when none waits).",
	}, func() float64 {
		o, ok := r.oldest()
		if !ok {
			return 0
		}
		return r.clock().Sub(o).Seconds()
	})
	for _, c := range []prometheus.Collector{m.raisedC, m.deliveredC, m.failedC, m.attemptErrs, depth, oldest} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register actions metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) raised(it *item, t *target) {
	m.counter(m.raisedC, it.a.Type, t.name).Inc()
}

func (m *metrics) delivered(it *item, t *target) {
	m.counter(m.deliveredC, it.a.Type, t.name).Inc()
}

func (m *metrics) failed(it *item, t *target) {
	m.counter(m.failedC, it.a.Type, t.name).Inc()
}

func (m *metrics) attemptFailed(t *target) {
	m.attemptErrs.WithLabelValues(t.name).Inc()
}
