// Package simulator produces order-fulfillment traffic for the shared example
// model (shared/examples/order-fulfillment.bpmn): OrderPlaced on `orders`,
// PaymentReceived on `payments`, GoodsFetched on `warehouse`, GoodsShipped and
// OrderDelivered on `shipping`, in the envelope of shared/examples/events.jsonl.
//
// It adds the anomalies a tracker must cope with, each at a configurable share:
// orders that stall at a step, steps whose event never comes, out-of-order
// arrival, duplicates, events for unknown orders, malformed JSON, noise
// (Heartbeat) and orders back-dated up to 30 days so that the 14- and 21-day
// timers have work as soon as the demo starts. The same seed gives the same
// sequence of records.
package simulator

import (
	"container/heap"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"
)

// Topics the simulator writes to, in step order of the model.
var Topics = []string{"orders", "payments", "warehouse", "shipping"}

// Steps of an order: message name and topic.
var Steps = []struct{ Type, Topic string }{
	{"OrderPlaced", "orders"},
	{"PaymentReceived", "payments"},
	{"GoodsFetched", "warehouse"},
	{"GoodsShipped", "shipping"},
	{"OrderDelivered", "shipping"},
}

// Shares sets how often each anomaly happens. Order shares (Stall, Missing,
// OutOfOrder, Backdated) are fractions of orders; event shares (Duplicate,
// Unknown, Malformed, Noise) are fractions of regular events, added on top.
type Shares struct {
	Stall      float64 // order stops after a random step and never continues
	Missing    float64 // one step in the middle never arrives, the rest do
	OutOfOrder float64 // a step's event arrives after the next step's event
	Backdated  float64 // order placed 1–30 days ago, steps spaced in real hours and days
	Duplicate  float64 // an event is sent again with the same id
	Unknown    float64 // an event for an order that was never placed
	Malformed  float64 // a record that is not valid JSON
	Noise      float64 // a Heartbeat event no model uses
}

// DefaultShares are the shares `tracker demo` uses.
var DefaultShares = Shares{
	Stall: 0.05, Missing: 0.03, OutOfOrder: 0.05, Backdated: 0.10,
	Duplicate: 0.02, Unknown: 0.01, Malformed: 0.005, Noise: 0.02,
}

// Options configure a [Generator].
type Options struct {
	Seed   uint64
	Rate   float64   // events per second of virtual time (default 50)
	Start  time.Time // event time of virtual time 0 (default now)
	Shares *Shares   // nil = DefaultShares
	// StepGap is the mean virtual time between two steps of a live order (default 4s).
	StepGap time.Duration
}

// Record is one Kafka record to produce.
type Record struct {
	Topic string
	Key   []byte
	Value []byte
	// At is the virtual send time, from the start of the run.
	At time.Duration
	// Kind tells what the record is (for statistics and tests).
	Kind Kind
}

// Kind classifies a record.
type Kind string

// Record kinds.
const (
	Regular   Kind = "regular"
	Duplicate Kind = "duplicate"
	Unknown   Kind = "unknown"
	Malformed Kind = "malformed"
	Noise     Kind = "noise"
)

// Stats counts what a generator produced.
type Stats struct {
	Records, Orders                      int
	Stalled, Missing, Swapped, Backdated int // orders
	ByKind                               map[Kind]int
	ByTopic                              map[string]int
}

// Generator yields records in send order. It is not safe for concurrent use.
type Generator struct {
	opts      Options
	sh        Shares
	rnd       *rand.Rand
	queue     recordQueue
	nextOrder time.Duration
	orderGap  time.Duration
	seq       int
	orders    int
	stats     Stats
}

// NewGenerator returns a generator for opts.
func NewGenerator(opts Options) *Generator {
	if opts.Rate <= 0 {
		opts.Rate = 50
	}
	if opts.Start.IsZero() {
		opts.Start = time.Now().UTC()
	}
	if opts.StepGap <= 0 {
		opts.StepGap = 4 * time.Second
	}
	sh := DefaultShares
	if opts.Shares != nil {
		sh = *opts.Shares
	}
	// about 5 regular events per order plus the extra event shares
	perOrder := float64(len(Steps)) * (1 + sh.Duplicate + sh.Unknown + sh.Malformed + sh.Noise)
	return &Generator{
		opts:     opts,
		sh:       sh,
		rnd:      rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		orderGap: time.Duration(float64(time.Second) * perOrder / opts.Rate),
		stats:    Stats{ByKind: map[Kind]int{}, ByTopic: map[string]int{}},
	}
}

// Stats returns counts of everything generated so far.
func (g *Generator) Stats() Stats {
	s := g.stats
	s.ByKind = make(map[Kind]int, len(g.stats.ByKind))
	for k, v := range g.stats.ByKind {
		s.ByKind[k] = v
	}
	s.ByTopic = make(map[string]int, len(g.stats.ByTopic))
	for k, v := range g.stats.ByTopic {
		s.ByTopic[k] = v
	}
	return s
}

// Next returns the next record in send order.
func (g *Generator) Next() Record {
	for g.queue.Len() == 0 || g.nextOrder <= g.queue[0].At {
		g.placeOrder(g.nextOrder)
		g.nextOrder += g.orderGap
	}
	r := heap.Pop(&g.queue).(Record)
	g.stats.Records++
	g.stats.ByKind[r.Kind]++
	g.stats.ByTopic[r.Topic]++
	return r
}

type envelope struct {
	ID      string         `json:"id"`
	Type    string         `json:"type"`
	OrderID string         `json:"orderId,omitempty"`
	Service string         `json:"service,omitempty"`
	Time    string         `json:"time"`
	Data    map[string]any `json:"data,omitempty"`
}

func (g *Generator) push(at time.Duration, topic, key string, kind Kind, value []byte) {
	heap.Push(&g.queue, Record{Topic: topic, Key: []byte(key), Value: value, At: at, Kind: kind})
}

func (g *Generator) event(typ, orderID string, t time.Time, data map[string]any) []byte {
	g.seq++
	b, _ := json.Marshal(envelope{ID: fmt.Sprintf("e-%d-%d", g.opts.Seed, g.seq), Type: typ, OrderID: orderID,
		Time: t.UTC().Format(time.RFC3339Nano), Data: data})
	return b
}

// placeOrder schedules every record of one new order arriving at virtual time at.
func (g *Generator) placeOrder(at time.Duration) {
	g.orders++
	g.stats.Orders++
	id := fmt.Sprintf("A-%d-%06d", g.opts.Seed%1000, g.orders)
	last := len(Steps) - 1
	missing := -1
	swap := -1

	// Event times: live orders run in compressed time from now; back-dated ones
	// were placed 1–30 days ago with steps hours and days apart.
	eventTime := g.opts.Start.Add(at)
	backdated := g.rnd.Float64() < g.sh.Backdated
	if backdated {
		g.stats.Backdated++
		eventTime = g.opts.Start.Add(at).Add(-time.Duration(24+g.rnd.IntN(29*24)) * time.Hour)
	}
	if g.rnd.Float64() < g.sh.Stall {
		g.stats.Stalled++
		last = g.rnd.IntN(len(Steps) - 1) // stops after OrderPlaced .. GoodsShipped
	}
	if last >= 3 && g.rnd.Float64() < g.sh.Missing {
		g.stats.Missing++
		missing = 1 + g.rnd.IntN(last-1) // never the first or the last step
	}
	if last >= 2 && g.rnd.Float64() < g.sh.OutOfOrder {
		g.stats.Swapped++
		swap = 1 + g.rnd.IntN(last-1) // swap step swap and swap+1
	}

	send := at
	type planned struct {
		step int
		at   time.Duration
		t    time.Time
	}
	var plan []planned
	for step := 0; step <= last; step++ {
		if step > 0 {
			gap := time.Duration((0.25 + 1.5*g.rnd.Float64()) * float64(g.opts.StepGap))
			send += gap
			if backdated {
				eventTime = eventTime.Add(realGap(g.rnd, step))
				if eventTime.After(g.opts.Start.Add(send)) {
					break // that step has not happened yet: the order waits there
				}
			} else {
				eventTime = eventTime.Add(gap)
			}
		}
		if step == missing {
			continue
		}
		plan = append(plan, planned{step, send, eventTime})
	}
	if swap >= 0 {
		for i := 0; i+1 < len(plan); i++ {
			if plan[i].step == swap {
				// the earlier step is held up (say, its topic lags) and arrives after the next one
				plan[i].at = plan[i+1].at + time.Duration(1+g.rnd.IntN(1000))*time.Millisecond
				break
			}
		}
	}
	for _, p := range plan {
		st := Steps[p.step]
		v := g.event(st.Type, id, p.t, stepData(g.rnd, p.step))
		g.push(p.at, st.Topic, id, Regular, v)
		g.extras(p.at, st.Topic, id, st.Type, v, p.t)
	}
}

// extras adds the per-event anomalies next to a regular event.
func (g *Generator) extras(at time.Duration, topic, key, typ string, v []byte, t time.Time) {
	if g.rnd.Float64() < g.sh.Duplicate {
		g.push(at+time.Duration(g.rnd.IntN(3000))*time.Millisecond, topic, key, Duplicate, v)
	}
	if g.rnd.Float64() < g.sh.Unknown {
		unknown := fmt.Sprintf("X-%d-%06d", g.opts.Seed%1000, g.seq)
		g.push(at, "payments", unknown, Unknown, g.event("PaymentReceived", unknown, t, map[string]any{"amount": 10.0, "method": "paypal"}))
	}
	if g.rnd.Float64() < g.sh.Malformed {
		full := g.event(typ, key, t, nil)
		g.push(at, topic, key, Malformed, full[:len(full)/2])
	}
	if g.rnd.Float64() < g.sh.Noise {
		svc := []string{"payment", "warehouse", "shipping"}[g.rnd.IntN(3)]
		g.seq++
		hb, _ := json.Marshal(envelope{ID: fmt.Sprintf("e-%d-%d", g.opts.Seed, g.seq), Type: "Heartbeat", Service: svc,
			Time: t.UTC().Format(time.RFC3339Nano)})
		g.push(at, topic, svc, Noise, hb)
	}
}

// realGap is a plausible real-world time between two steps.
func realGap(rnd *rand.Rand, step int) time.Duration {
	switch step {
	case 1: // payment: minutes
		return time.Duration(1+rnd.IntN(30)) * time.Minute
	case 2: // goods fetched: hours
		return time.Duration(1+rnd.IntN(12)) * time.Hour
	case 3: // shipped: about a day
		return time.Duration(6+rnd.IntN(36)) * time.Hour
	default: // delivered: days
		return time.Duration(24+rnd.IntN(72)) * time.Hour
	}
}

func stepData(rnd *rand.Rand, step int) map[string]any {
	switch step {
	case 0:
		return map[string]any{"customer": fmt.Sprintf("c-%d", rnd.IntN(500)), "total": float64(rnd.IntN(50000)) / 100, "items": 1 + rnd.IntN(9)}
	case 1:
		return map[string]any{"amount": float64(rnd.IntN(50000)) / 100, "method": []string{"card", "paypal", "invoice"}[rnd.IntN(3)]}
	case 2:
		return map[string]any{"warehouse": []string{"HAM-2", "MUC-1", "BER-3"}[rnd.IntN(3)]}
	case 3:
		return map[string]any{"carrier": []string{"DHL", "UPS", "DPD"}[rnd.IntN(3)], "tracking": fmt.Sprintf("JD%06d", rnd.IntN(1000000))}
	default:
		return map[string]any{}
	}
}

// recordQueue orders records by send time; ties keep insertion order stable
// enough for determinism because heap operations are deterministic.
type recordQueue []Record

func (q recordQueue) Len() int           { return len(q) }
func (q recordQueue) Less(i, j int) bool { return q[i].At < q[j].At }
func (q recordQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *recordQueue) Push(x any)        { *q = append(*q, x.(Record)) }
func (q *recordQueue) Pop() any {
	old := *q
	r := old[len(old)-1]
	*q = old[:len(old)-1]
	return r
}
