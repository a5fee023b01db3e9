package actions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/tracker-dev/tracker/config"
	"github.com/tracker-dev/tracker/engine"
)

// Outbox is the engine's durable action outbox as the relay uses it;
// *engine.Engine satisfies it.
type Outbox interface {
	// PendingActions returns up to max undelivered entries with Seq > after, in order.
	PendingActions(after uint64, max int) ([]engine.Action, error)
	// MarkActions records delivery attempts durably.
	MarkActions(ctx context.Context, updates []engine.ActionUpdate) error
	// FeedNotify is signalled after commits that may have added entries.
	FeedNotify() <-chan struct{}
}

// Defaults for [Options].
const (
	DefaultMaxAttempts    = 25
	DefaultMaxAge         = 24 * time.Hour
	DefaultPollInterval   = 250 * time.Millisecond
	DefaultBatchSize      = 5000
	DefaultQueueSize      = 10_000
	DefaultAttemptTimeout = 30 * time.Second
	DefaultWebhookTimeout = 10 * time.Second
)

// Options configure [New]. Outbox is required; every other zero value is a
// safe default.
type Options struct {
	Outbox Outbox
	// Kafka is how Kafka targets are reached; needed once an action goes to a topic.
	Kafka config.Kafka
	// Targets are the named targets of the config (`targets:`).
	Targets map[string]config.Target
	// DefaultTarget is the named target or topic of actions whose element names
	// none; empty makes such actions fail at once (an incident).
	DefaultTarget string
	// MaxAttempts is how many delivery attempts an action gets before it is
	// marked failed (default 25). Attempts recorded before a restart count.
	MaxAttempts int
	// MaxAge is how long the relay keeps retrying an action, counted from its
	// first attempt by this process (default 24h).
	MaxAge time.Duration
	// Backoff is the wait before retrying a target after its n-th consecutive
	// failed attempt (n ≥ 1). Default: exponential from 1s doubling to 5m,
	// with jitter (a random half of the delay).
	Backoff func(n int) time.Duration
	// Clock is the time source (default time.Now).
	Clock func() time.Time
	// PollInterval bounds how long new outbox entries may wait when no feed
	// notification arrives (default 250ms). The engine's FeedNotify has one
	// slot shared by every feed reader, so a notification can go to another
	// reader; the poll is what bounds the delay then.
	PollInterval time.Duration
	// BatchSize is the most actions a Kafka target writes at once, with one
	// produce request per partition (default 5000).
	BatchSize int
	// Linger is how long a target's worker waits for a fuller batch when
	// fewer than BatchSize actions are queued (default 0: it sends what is
	// queued at once; while one batch is in flight, the next one gathers).
	Linger time.Duration
	// QueueSize is the most actions held in memory per target (default
	// 10,000); the rest wait in the outbox.
	QueueSize int
	// AttemptTimeout bounds one Kafka write (default 30s). Webhooks use the
	// target's timeout (default 10s).
	AttemptTimeout time.Duration
	// HTTPClient sends webhooks (default: a client with the target's timeout).
	HTTPClient *http.Client
	// Transport overrides the kafka-go transport built from Kafka.
	Transport kafka.RoundTripper
	// Registerer receives the relay's metrics; nil registers none.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Relay delivers outbox entries to their targets. Build it with [New] and
// start it with [Relay.Run].
type Relay struct {
	opts      Options
	log       *slog.Logger
	clock     func() time.Time
	transport kafka.RoundTripper
	metrics   *metrics
	webhooks  map[string]webhookTarget // resolved named webhook targets

	// afterSend, when set (tests), runs after a send and before the mark.
	afterSend func(items []*item, errs []error)
	// newSender, when set (tests), replaces the Kafka and webhook senders.
	newSender func(kind, name, detail string) sender

	settled   atomic.Int64 // actions delivered or failed since New (tests wait on it)
	delivered atomic.Int64
	failed    atomic.Int64

	mu        sync.Mutex
	running   bool
	readErr   error
	lastRead  time.Time
	targets   map[string]*target // by resolution key
	inflight  map[uint64]*item   // dispatched, not yet delivered or failed
	overflow  map[*target]overflowMark
	cursor    uint64 // every entry up to here was dispatched or is under an overflow mark
	maxSeen   uint64
	depth     int
	room      chan struct{} // a worker freed queue space
	workerErr chan error
}

type overflowMark struct {
	seq  uint64 // first entry of the target that did not fit its queue
	seen time.Time
}

type webhookTarget struct {
	url     string
	headers http.Header
	timeout time.Duration
}

// New validates the options and builds a relay. It starts nothing.
func New(opts Options) (*Relay, error) {
	var problems []error
	if opts.Outbox == nil {
		problems = append(problems, errors.New("actions options: Outbox is required"))
	}
	for name, v := range map[string]int{"MaxAttempts": opts.MaxAttempts, "BatchSize": opts.BatchSize, "QueueSize": opts.QueueSize} {
		if v < 0 {
			problems = append(problems, fmt.Errorf("actions options: %s %d must not be negative", name, v))
		}
	}
	for name, v := range map[string]time.Duration{"MaxAge": opts.MaxAge, "PollInterval": opts.PollInterval, "Linger": opts.Linger, "AttemptTimeout": opts.AttemptTimeout} {
		if v < 0 {
			problems = append(problems, fmt.Errorf("actions options: %s %s must not be negative", name, v))
		}
	}
	webhooks := map[string]webhookTarget{}
	for _, name := range slices.Sorted(maps.Keys(opts.Targets)) {
		t := opts.Targets[name]
		switch {
		case t.KafkaTopic != "" && t.Webhook != "":
			problems = append(problems, fmt.Errorf("targets.%s: set either kafka_topic or webhook, not both", name))
		case t.KafkaTopic == "" && t.Webhook == "":
			problems = append(problems, fmt.Errorf("targets.%s: set kafka_topic or webhook", name))
		case t.Webhook != "":
			if !strings.HasPrefix(t.Webhook, "http://") && !strings.HasPrefix(t.Webhook, "https://") {
				problems = append(problems, fmt.Errorf("targets.%s.webhook %q: must be an http:// or https:// URL", name, t.Webhook))
				continue
			}
			wt := webhookTarget{url: t.Webhook, headers: http.Header{}, timeout: t.Timeout.Duration}
			if wt.timeout <= 0 {
				wt.timeout = DefaultWebhookTimeout
			}
			for _, h := range slices.Sorted(maps.Keys(t.Headers)) {
				wt.headers.Set(h, t.Headers[h])
			}
			for _, h := range slices.Sorted(maps.Keys(t.HeadersEnv)) {
				v, ok := os.LookupEnv(t.HeadersEnv[h])
				if !ok {
					problems = append(problems, fmt.Errorf("targets.%s.headers_env.%s: environment variable %s is not set", name, h, t.HeadersEnv[h]))
					continue
				}
				wt.headers.Set(h, v)
			}
			webhooks[name] = wt
		}
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}
	if opts.MaxAttempts == 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.MaxAge == 0 {
		opts.MaxAge = DefaultMaxAge
	}
	if opts.Backoff == nil {
		opts.Backoff = DefaultBackoff
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.BatchSize == 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.QueueSize == 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.AttemptTimeout == 0 {
		opts.AttemptTimeout = DefaultAttemptTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Relay{
		opts: opts, log: opts.Logger.With("component", "actions"), clock: opts.Clock,
		transport: opts.Transport, webhooks: webhooks,
		targets: map[string]*target{}, inflight: map[uint64]*item{}, overflow: map[*target]overflowMark{},
		room: make(chan struct{}, 1),
	}
	m, err := newMetrics(opts.Registerer, r)
	if err != nil {
		return nil, err
	}
	r.metrics = m
	return r, nil
}

// DefaultBackoff waits 1s after the first failure, doubling up to 5 minutes,
// and picks a random point in the upper half of that delay (jitter), so
// targets recovering from an outage are not hit by every tracker at once.
func DefaultBackoff(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	d := time.Second << min(n-1, 20)
	if d > 5*time.Minute || d <= 0 {
		d = 5 * time.Minute
	}
	return d/2 + rand.N(d/2+1)
}

// Totals counts what the relay did since [New].
type Totals struct {
	Delivered int64 // acknowledged by their target
	Failed    int64 // given up (each raised an incident)
}

// Totals returns the counts so far, e.g. for the demo's per-minute summary.
func (r *Relay) Totals() Totals {
	return Totals{Delivered: r.delivered.Load(), Failed: r.failed.Load()}
}

// Status tells how the relay is doing, for readiness and the UI.
type Status struct {
	Running   bool           `json:"running"`
	ReadError string         `json:"readError,omitempty"`
	LastRead  time.Time      `json:"lastRead,omitzero"`
	Depth     int            `json:"depth"`
	Targets   []TargetStatus `json:"targets,omitempty"`
}

// TargetStatus is the state of one target's worker.
type TargetStatus struct {
	Name      string    `json:"name"`
	Kind      string    `json:"kind"` // kafka | webhook | invalid
	Queued    int       `json:"queued"`
	Failures  int       `json:"consecutiveFailures"`
	LastError string    `json:"lastError,omitempty"`
	RetryAt   time.Time `json:"retryAt,omitzero"`
}

// Ready reports whether Run is reading the outbox; a target that is down
// does not make the relay unready (it shows in the status).
func (r *Relay) Ready() (bool, Status) {
	r.mu.Lock()
	st := Status{Running: r.running, LastRead: r.lastRead, Depth: r.depth}
	if r.readErr != nil {
		st.ReadError = r.readErr.Error()
	}
	ts := slices.Collect(maps.Values(r.targets))
	r.mu.Unlock()
	for _, t := range ts {
		st.Targets = append(st.Targets, t.status())
	}
	sort.Slice(st.Targets, func(i, j int) bool { return st.Targets[i].Name < st.Targets[j].Name })
	return st.Running && st.ReadError == "", st
}

// Run delivers actions until ctx is cancelled, then stops its workers and
// returns nil; actions in flight stay in the outbox and go out after the next
// start. It returns an error only if the outbox cannot be marked (the engine
// failed), since delivering without recording would repeat work forever.
func (r *Relay) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.running {
		r.mu.Unlock()
		return errors.New("actions relay is already running")
	}
	r.running = true
	r.cursor, r.maxSeen, r.depth = 0, 0, 0
	clear(r.inflight)
	clear(r.overflow)
	r.workerErr = make(chan error, 1)
	r.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
		r.mu.Lock()
		ts := r.targets
		r.targets = map[string]*target{}
		r.running = false
		tr, own := r.transport.(*kafka.Transport)
		r.mu.Unlock()
		if own && r.opts.Transport == nil {
			defer tr.CloseIdleConnections()
		}
		for _, t := range ts {
			if err := t.sender.close(); err != nil {
				r.log.Warn("close target", "target", t.name, "err", err)
			}
		}
	}()
	start := func(t *target) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.work(ctx, t); err != nil {
				select {
				case r.workerErr <- err:
				default:
				}
				cancel()
			}
		}()
	}
	poll := time.NewTicker(r.opts.PollInterval)
	defer poll.Stop()
	for {
		if err := r.fill(ctx, start); err != nil {
			r.mu.Lock()
			if r.readErr == nil {
				r.log.Error("read outbox", "err", err)
			}
			r.readErr = err
			r.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			select {
			case err := <-r.workerErr:
				return err
			default:
				return nil
			}
		case <-r.opts.Outbox.FeedNotify():
		case <-r.room:
		case <-poll.C:
		}
	}
}

// pageSize is how many outbox entries one read returns.
const pageSize = 1000

// fill reads the outbox: first entries of targets whose queues overflowed
// and have room again, then new entries.
func (r *Relay) fill(ctx context.Context, start func(*target)) error {
	r.mu.Lock()
	var again []*target
	for t := range r.overflow {
		if t.free() >= r.opts.QueueSize/2 {
			again = append(again, t)
		}
	}
	r.mu.Unlock()
	sort.Slice(again, func(i, j int) bool { return again[i].name < again[j].name })
	for _, t := range again {
		if err := r.scan(ctx, t, start); err != nil {
			return err
		}
	}
	return r.scan(ctx, nil, start)
}

// scan dispatches outbox entries. With only == nil it reads after the cursor
// and advances it; otherwise it rereads the entries of one overflowed target
// up to the cursor.
func (r *Relay) scan(ctx context.Context, only *target, start func(*target)) error {
	r.mu.Lock()
	after, upTo := r.cursor, uint64(0)
	if only != nil {
		after, upTo = r.overflow[only].seq-1, r.cursor
	}
	r.mu.Unlock()
	for ctx.Err() == nil {
		page, err := r.opts.Outbox.PendingActions(after, pageSize)
		if err != nil {
			return fmt.Errorf("read outbox after entry %d: %w", after, err)
		}
		now := r.clock()
		r.mu.Lock()
		r.readErr, r.lastRead = nil, now
		done := len(page) < pageSize
		for i := range page {
			a := &page[i]
			if only != nil && a.Seq > upTo {
				done = true
				break
			}
			after = a.Seq
			if only == nil {
				r.cursor = a.Seq
				if a.Seq > r.maxSeen {
					r.maxSeen = a.Seq
					r.depth++
				}
			}
			if r.inflight[a.Seq] != nil {
				continue
			}
			t := r.resolve(a, start)
			if only != nil && t != only {
				continue
			}
			if _, over := r.overflow[t]; over && only == nil {
				continue // the rescan takes it, keeping the target's order
			}
			it := &item{a: *a, seen: now}
			if !t.push(it) {
				r.overflow[t] = overflowMark{seq: a.Seq, seen: now}
				if only != nil {
					r.mu.Unlock()
					return nil
				}
				continue
			}
			r.inflight[a.Seq] = it
			r.metrics.raised(it, t)
		}
		if only != nil && done {
			delete(r.overflow, only)
		}
		r.mu.Unlock()
		if done {
			return nil
		}
	}
	return nil
}

// finished removes delivered or failed items from the books.
func (r *Relay) finished(items []*item) {
	r.mu.Lock()
	for _, it := range items {
		if r.inflight[it.a.Seq] == it {
			delete(r.inflight, it.a.Seq)
			r.depth--
		}
	}
	r.mu.Unlock()
	r.settled.Add(int64(len(items)))
	select {
	case r.room <- struct{}{}:
	default:
	}
}

// oldest returns when the oldest undelivered action was first seen.
func (r *Relay) oldest() (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var o time.Time
	for _, it := range r.inflight {
		if o.IsZero() || it.seen.Before(o) {
			o = it.seen
		}
	}
	for _, m := range r.overflow {
		if o.IsZero() || m.seen.Before(o) {
			o = m.seen
		}
	}
	return o, !o.IsZero()
}

// resolve finds (or creates and starts) the target of an action. Called with r.mu held.
func (r *Relay) resolve(a *engine.Action, start func(*target)) *target {
	kind, name, detail := r.route(a)
	key := kind + "\x00" + name + "\x00" + detail
	if t := r.targets[key]; t != nil {
		return t
	}
	t := &target{name: name, kind: kind, size: r.opts.QueueSize, wake: make(chan struct{}, 1)}
	switch {
	case r.newSender != nil:
		t.sender = r.newSender(kind, name, detail)
	case kind == kindKafka:
		t.sender = r.newKafkaSender(name, detail)
	case kind == kindWebhook:
		t.sender = &webhookSender{t: r.webhooks[name], client: r.opts.HTTPClient}
	default:
		t.sender = invalidSender{reason: detail}
	}
	r.targets[key] = t
	start(t)
	return t
}

// Target kinds.
const (
	kindKafka   = "kafka"
	kindWebhook = "webhook"
	kindInvalid = "invalid"
)

// route works out where an action goes: (kind, metric name, topic/URL or
// reason). Task header topic (or kafka-topic) names a Kafka topic, as in
// kafka-connect-zeebe; task header target names a configured target, which
// must exist. Without headers, Action.Target (else DefaultTarget) is a
// configured target if there is one of that name, else a topic.
func (r *Relay) route(a *engine.Action) (kind, name, detail string) {
	named := func(n string) (string, string, string, bool) {
		t, ok := r.opts.Targets[n]
		switch {
		case !ok:
			return "", "", "", false
		case t.Webhook != "":
			return kindWebhook, n, t.Webhook, true
		default:
			return kindKafka, n, t.KafkaTopic, true
		}
	}
	topic := a.Headers["topic"]
	if topic == "" {
		topic = a.Headers["kafka-topic"]
	}
	if topic != "" {
		return kindKafka, topic, topic
	}
	if n := a.Headers["target"]; n != "" {
		if k, n, d, ok := named(n); ok {
			return k, n, d
		}
		return kindInvalid, n, fmt.Sprintf("element %s names target %q, which is not configured (configured targets: %s)",
			a.ElementID, n, strings.Join(slices.Sorted(maps.Keys(r.opts.Targets)), ", "))
	}
	want := a.Target
	if want == "" {
		want = r.opts.DefaultTarget
	}
	if want == "" {
		return kindInvalid, "none", fmt.Sprintf("element %s names no target: set task header topic or target, or configure a default target", a.ElementID)
	}
	if k, n, d, ok := named(want); ok {
		return k, n, d
	}
	return kindKafka, want, want
}
