package history

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tracker-dev/tracker/engine"
)

// Feed is the part of the engine the [Projector] reads: the durable, ordered
// change feed and its commit signal. *engine.Engine satisfies it.
type Feed interface {
	Feed(from uint64, max int) ([]engine.Change, error)
	FeedNotify() <-chan struct{}
}

// IncidentStates tells the [Projector] which incidents are resolved.
// Operators resolve and retry incidents in the incident store, outside the
// engine's change feed, so the projector asks it when it writes an incident
// document and again when told that incidents changed
// ([Projector.IncidentsChanged]). *incidents.Store satisfies it.
type IncidentStates interface {
	// ResolvedIncidents returns when each resolved incident among ids was
	// resolved; open and unknown ids are left out.
	ResolvedIncidents(ctx context.Context, ids []string) (map[string]time.Time, error)
}

// Defaults for [ProjectorOptions].
const (
	DefaultBatchSize       = 2000
	DefaultPollInterval    = time.Second
	DefaultRetryMin        = 500 * time.Millisecond
	DefaultRetryMax        = 30 * time.Second
	DefaultCleanupInterval = time.Hour
	DefaultCacheSize       = 50_000
)

// ProjectorOptions configure [NewProjector]. Feed and Backend are required;
// every other zero value is a safe default.
type ProjectorOptions struct {
	Feed    Feed
	Backend Backend
	Logger  *slog.Logger
	// BatchSize is the number of feed changes read and applied per batch.
	BatchSize int
	// PollInterval bounds how long Run sleeps without a feed signal.
	PollInterval time.Duration
	// RetryMin and RetryMax bound the exponential backoff after a failed
	// feed read or backend write.
	RetryMin, RetryMax time.Duration
	// Retention deletes instances that finished more than Retention ago (and
	// instance-less events older than that) every CleanupInterval; 0 keeps
	// everything.
	Retention       time.Duration
	CleanupInterval time.Duration
	// CacheSize is the number of active instance documents kept in memory so
	// a change does not need a backend read.
	CacheSize int
	// Clock is the wall clock for retention; nil = time.Now.
	Clock func() time.Time
	// Registerer receives the projector's metrics; nil: not registered.
	Registerer prometheus.Registerer
	// Incidents is asked which incidents are resolved (see
	// [IncidentStates]); nil: incident documents stay as the feed opened
	// them.
	Incidents IncidentStates
}

// Status is what the projector has done so far.
type Status struct {
	Checkpoint  uint64    `json:"checkpoint"` // last feed sequence number applied
	CaughtUp    bool      `json:"caughtUp"`   // the last feed read returned everything there was
	Applied     uint64    `json:"applied"`    // changes applied since start
	Skipped     uint64    `json:"skipped"`    // changes with an unreadable payload, logged and skipped
	LastError   string    `json:"lastError,omitempty"`
	LastErrorAt time.Time `json:"lastErrorAt,omitzero"`
}

// Projector turns the engine's change feed into read-model documents. It
// runs beside correlation and never blocks it: the engine only appends to its
// feed; the projector follows with its own checkpoint, stored by the backend
// with each batch, so after a crash or an outage it resumes where the backend
// left off and nothing is applied twice.
type Projector struct {
	opts  ProjectorOptions
	log   *slog.Logger
	clock func() time.Time
	m     *metrics

	mu     sync.Mutex // one step at a time (Run and Sync)
	loaded bool
	cp     uint64
	cache  map[int64]*Instance

	smu    sync.Mutex
	status Status

	// Incident state changes (see IncidentsChanged).
	reconcile bool                // guarded by mu: look at every open incident once after start
	qmu       sync.Mutex          // guards changed
	changed   map[string]struct{} // incidents to look at, not applied yet
	wake      chan struct{}       // signals changed to Run
}

// NewProjector checks the options. It starts nothing; call [Projector.Run].
func NewProjector(opts ProjectorOptions) (*Projector, error) {
	var problems []error
	if opts.Feed == nil {
		problems = append(problems, errors.New("history projector options: Feed is required"))
	}
	if opts.Backend == nil {
		problems = append(problems, errors.New("history projector options: Backend is required"))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"PollInterval", opts.PollInterval}, {"RetryMin", opts.RetryMin}, {"RetryMax", opts.RetryMax}, {"Retention", opts.Retention}, {"CleanupInterval", opts.CleanupInterval}} {
		if d.v < 0 {
			problems = append(problems, fmt.Errorf("history projector options: %s %s must not be negative", d.name, d.v))
		}
	}
	if opts.BatchSize < 0 {
		problems = append(problems, fmt.Errorf("history projector options: BatchSize %d must not be negative", opts.BatchSize))
	}
	if opts.CacheSize < 0 {
		problems = append(problems, fmt.Errorf("history projector options: CacheSize %d must not be negative", opts.CacheSize))
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&opts.PollInterval, DefaultPollInterval)
	def(&opts.RetryMin, DefaultRetryMin)
	def(&opts.RetryMax, DefaultRetryMax)
	def(&opts.CleanupInterval, DefaultCleanupInterval)
	if opts.RetryMax < opts.RetryMin {
		opts.RetryMax = opts.RetryMin
	}
	if opts.BatchSize == 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.CacheSize == 0 {
		opts.CacheSize = DefaultCacheSize
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	p := &Projector{opts: opts, log: opts.Logger.With("component", "history"), clock: opts.Clock, m: m, cache: map[int64]*Instance{},
		changed: map[string]struct{}{}, wake: make(chan struct{}, 1)}
	if p.clock == nil {
		p.clock = time.Now
	}
	return p, nil
}

// Status reports progress and the last error.
func (p *Projector) Status() Status {
	p.smu.Lock()
	defer p.smu.Unlock()
	return p.status
}

// Run follows the feed until ctx ends, retrying failed reads and writes with
// backoff, and runs retention cleanup when configured. It returns nil when
// ctx is cancelled.
func (p *Projector) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	if p.opts.Incidents != nil {
		wg.Go(func() { p.followIncidents(ctx) })
	}
	var nextCleanup time.Time
	if p.opts.Retention > 0 {
		nextCleanup = p.clock() // first cleanup right away
	}
	return engine.Follower{
		Step: p.Step, Notify: p.opts.Feed.FeedNotify,
		Poll: p.opts.PollInterval, RetryMin: p.opts.RetryMin, RetryMax: p.opts.RetryMax,
		OnError: func(err error, retryIn time.Duration) {
			p.log.Warn("history projection failed; retrying", "err", err, "retryIn", retryIn)
		},
		Between: func(ctx context.Context) {
			if !nextCleanup.IsZero() && !p.clock().Before(nextCleanup) {
				p.cleanup(ctx)
				nextCleanup = p.clock().Add(p.opts.CleanupInterval)
			}
		},
	}.Run(ctx)
}

// IncidentsChanged tells the projector that these incidents changed state
// (resolved by an operator, by a retry, or re-queued). It does not block:
// Run applies the new states to the incident documents, the open-incident
// counts of their instances and so the statistics, soon after; Step and
// Sync apply them too. It implements incidents.Watcher.
func (p *Projector) IncidentsChanged(ids []string) {
	if p.opts.Incidents == nil || len(ids) == 0 {
		return
	}
	p.queue(ids)
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *Projector) queue(ids []string) {
	p.qmu.Lock()
	defer p.qmu.Unlock()
	for _, id := range ids {
		p.changed[id] = struct{}{}
	}
}

func (p *Projector) takeChanged() []string {
	p.qmu.Lock()
	defer p.qmu.Unlock()
	ids := make([]string, 0, len(p.changed))
	for id := range p.changed {
		ids = append(ids, id)
	}
	clear(p.changed)
	slices.Sort(ids)
	return ids
}

// followIncidents applies incident state changes as they are signalled. A
// failure leaves them queued for the next signal or feed step.
func (p *Projector) followIncidents(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		}
		p.mu.Lock()
		err := p.load(ctx)
		if err == nil {
			err = p.incidentStep(ctx)
		}
		p.mu.Unlock()
		if err != nil && ctx.Err() == nil {
			p.fail(err)
			p.log.Warn("history: applying incident states failed; retrying with the next batch", "err", err)
		}
	}
}

// incidentStep applies the queued incident state changes and, once after
// start, looks at every incident history holds as open (so that changes
// signalled while the tracker was down, or lost to a failed write, are
// caught up). Incident documents become resolved and their instances count
// one open incident less, in one Apply that keeps the feed checkpoint: a
// resolved document is never counted down twice.
func (p *Projector) incidentStep(ctx context.Context) error {
	if p.opts.Incidents == nil {
		return nil
	}
	if p.reconcile {
		q := IncidentQuery{State: IncidentOpen, Limit: MaxLimit}
		for {
			page, err := p.opts.Backend.Incidents(ctx, q)
			if err != nil {
				return fmt.Errorf("list open incidents: %w", err)
			}
			ids := make([]string, 0, len(page.Items))
			for _, inc := range page.Items {
				ids = append(ids, inc.ID)
			}
			p.queue(ids)
			if q.Cursor = page.Next; q.Cursor == "" {
				break
			}
		}
		p.reconcile = false
	}
	ids := p.takeChanged()
	for start := 0; start < len(ids); start += MaxLimit {
		if err := p.resolveIncidents(ctx, ids[start:min(len(ids), start+MaxLimit)]); err != nil {
			p.queue(ids[start:])
			return err
		}
	}
	return nil
}

// resolveIncidents writes the state of up to MaxLimit incidents.
func (p *Projector) resolveIncidents(ctx context.Context, ids []string) error {
	resolved, err := p.opts.Incidents.ResolvedIncidents(ctx, ids)
	if err != nil {
		return fmt.Errorf("read incident states: %w", err)
	}
	if len(resolved) == 0 {
		return nil
	}
	// The incident documents of the last batch must be searchable.
	if err := p.opts.Backend.Refresh(ctx); err != nil {
		return err
	}
	open, err := p.opts.Backend.Incidents(ctx, IncidentQuery{IDs: slices.Sorted(maps.Keys(resolved)), State: IncidentOpen, Limit: MaxLimit})
	if err != nil {
		return fmt.Errorf("read open incidents: %w", err)
	}
	if len(open.Items) == 0 {
		return nil // resolved already, or not in history yet (then it is written resolved)
	}
	pr := p.newProjection(ctx, p.cp)
	for _, inc := range open.Items {
		at := utc(resolved[inc.ID])
		inc.State, inc.ResolvedAt = IncidentResolved, at
		put(&pr.b.Incidents, pr.incidents, inc.ID, inc)
		if inc.InstanceKey == 0 {
			continue
		}
		in, err := pr.instance(inc.InstanceKey)
		if err != nil {
			return err
		}
		if in != nil && in.Incidents > 0 {
			in.Incidents-- // LastSeq and UpdatedAt stay: they are about the feed
		}
	}
	b, touched, err := pr.finish()
	if err != nil {
		return err
	}
	if err := p.opts.Backend.Apply(ctx, b); err != nil {
		clear(p.cache)
		return fmt.Errorf("write resolved incidents: %w", err)
	}
	p.remember(touched)
	p.log.Debug("history: incidents resolved", "count", len(b.Incidents))
	return nil
}

func (p *Projector) cleanup(ctx context.Context) {
	before := p.clock().Add(-p.opts.Retention)
	res, err := p.opts.Backend.Cleanup(ctx, before)
	if err != nil {
		p.fail(fmt.Errorf("history retention cleanup: %w", err))
		p.log.Warn("history retention cleanup failed", "err", err)
		return
	}
	p.m.cleaned.Add(float64(res.Instances))
	p.log.Debug("history retention cleanup", "before", before, "instances", res.Instances, "events", res.Events)
}

// Sync applies everything the feed holds now and returns when caught up (or
// on the first error). Tests and shutdown use it; it is safe beside Run.
func (p *Projector) Sync(ctx context.Context) error {
	for {
		n, err := p.Step(ctx)
		if err != nil {
			return err
		}
		if n < p.opts.BatchSize {
			return nil
		}
	}
}

func (p *Projector) fail(err error) {
	p.m.failures.Inc()
	p.smu.Lock()
	p.status.LastError, p.status.LastErrorAt = err.Error(), p.clock()
	p.smu.Unlock()
}

// Step reads one batch from the feed and applies it; it returns the number
// of changes applied (0 when caught up).
func (p *Projector) Step(ctx context.Context) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	start := time.Now()
	n, err := p.step(ctx)
	if err != nil {
		if ctx.Err() == nil { // stopping is not a failure
			p.fail(err)
		}
	} else if n > 0 {
		p.m.batchSecs.Observe(time.Since(start).Seconds())
		p.m.applied.Add(float64(n))
		p.m.checkpoint.Set(float64(p.cp))
	}
	return n, err
}

// load reads the backend's checkpoint once.
func (p *Projector) load(ctx context.Context) error {
	if p.loaded {
		return nil
	}
	cp, err := p.opts.Backend.Checkpoint(ctx)
	if err != nil {
		return fmt.Errorf("read history checkpoint: %w", err)
	}
	p.cp, p.loaded = cp, true
	p.reconcile = p.opts.Incidents != nil
	p.smu.Lock()
	p.status.Checkpoint = cp
	p.smu.Unlock()
	return nil
}

// remember caches the active instance documents just written.
func (p *Projector) remember(touched map[int64]*Instance) {
	if len(p.cache)+len(touched) > p.opts.CacheSize {
		clear(p.cache)
	}
	for k, in := range touched {
		if in.State == StateActive {
			p.cache[k] = in
		} else {
			delete(p.cache, k)
		}
	}
}

func (p *Projector) step(ctx context.Context) (int, error) {
	if err := p.load(ctx); err != nil {
		return 0, err
	}
	changes, err := p.opts.Feed.Feed(p.cp+1, p.opts.BatchSize)
	if err != nil {
		return 0, fmt.Errorf("read change feed from %d: %w", p.cp+1, err)
	}
	if len(changes) == 0 {
		if err := p.incidentStep(ctx); err != nil {
			return 0, err
		}
		p.smu.Lock()
		p.status.CaughtUp = true
		p.smu.Unlock()
		return 0, nil
	}
	b, touched, err := p.project(ctx, changes)
	if err != nil {
		return 0, err
	}
	if err := p.opts.Backend.Apply(ctx, b); err != nil {
		// The cached documents are ahead of the backend now: forget them.
		clear(p.cache)
		return 0, fmt.Errorf("write history batch up to %d: %w", b.Checkpoint, err)
	}
	p.cp = b.Checkpoint
	p.remember(touched)
	if err := p.incidentStep(ctx); err != nil {
		// The batch is written; the incident states stay queued.
		p.fail(err)
		p.log.Warn("history: applying incident states failed; retrying with the next batch", "err", err)
	}
	p.smu.Lock()
	p.status.Checkpoint = p.cp
	p.status.CaughtUp = len(changes) < p.opts.BatchSize
	p.status.Applied += uint64(len(changes))
	p.smu.Unlock()
	return len(changes), nil
}

// projection collects one batch's documents.
type projection struct {
	p         *Projector
	ctx       context.Context
	insts     map[int64]*Instance
	vars      map[int64]map[string]json.RawMessage
	missing   map[int64]bool
	events    map[string]int
	elements  map[int64]int
	incidents map[string]int
	actions   map[string]int
	resolved  map[string]time.Time // incidents of the batch resolved already
	b         *Batch
}

func (p *Projector) newProjection(ctx context.Context, checkpoint uint64) *projection {
	return &projection{
		p: p, ctx: ctx, insts: map[int64]*Instance{}, vars: map[int64]map[string]json.RawMessage{},
		missing: map[int64]bool{}, events: map[string]int{}, elements: map[int64]int{},
		incidents: map[string]int{}, actions: map[string]int{},
		b: &Batch{Checkpoint: checkpoint},
	}
}

// incidentStates asks which incidents opened in changes are resolved
// already (operators may act before history catches up).
func (pr *projection) incidentStates(changes []engine.Change) error {
	if pr.p.opts.Incidents == nil {
		return nil
	}
	var ids []string
	for i := range changes {
		if changes[i].Kind != engine.ChangeIncident {
			continue
		}
		var pl struct {
			IncidentID string `json:"incidentId"`
		}
		if json.Unmarshal(changes[i].Payload, &pl) == nil && pl.IncidentID != "" {
			ids = append(ids, pl.IncidentID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	for start := 0; start < len(ids); start += MaxLimit {
		r, err := pr.p.opts.Incidents.ResolvedIncidents(pr.ctx, ids[start:min(len(ids), start+MaxLimit)])
		if err != nil {
			return fmt.Errorf("read incident states: %w", err)
		}
		if pr.resolved == nil {
			pr.resolved = r
			continue
		}
		maps.Copy(pr.resolved, r)
	}
	return nil
}

// finish adds the instance documents to the batch.
func (pr *projection) finish() (*Batch, map[int64]*Instance, error) {
	for k, in := range pr.insts {
		if m := pr.vars[k]; m != nil {
			v, err := json.Marshal(m)
			if err != nil {
				return nil, nil, fmt.Errorf("encode variables of instance %d: %w", k, err)
			}
			in.Variables = v
		}
		pr.b.Instances = append(pr.b.Instances, *in)
	}
	return pr.b, pr.insts, nil
}

func (p *Projector) project(ctx context.Context, changes []engine.Change) (*Batch, map[int64]*Instance, error) {
	pr := p.newProjection(ctx, changes[len(changes)-1].Seq)
	if err := pr.incidentStates(changes); err != nil {
		return nil, nil, err
	}
	for i := range changes {
		if err := pr.apply(&changes[i]); err != nil {
			var bad *badChangeError
			if !errors.As(err, &bad) {
				return nil, nil, err
			}
			// One unreadable entry must not stop history for good.
			p.log.Error("history: skipping a change-feed entry", "seq", changes[i].Seq, "kind", changes[i].Kind, "err", err)
			p.m.skipped.Inc()
			p.smu.Lock()
			p.status.Skipped++
			p.smu.Unlock()
		}
	}
	return pr.finish()
}

// instance returns the working copy of an instance document, loading it
// from the cache or the backend; nil if the instance is unknown.
func (pr *projection) instance(key int64) (*Instance, error) {
	if in := pr.insts[key]; in != nil {
		return in, nil
	}
	if pr.missing[key] {
		return nil, nil
	}
	if in := pr.p.cache[key]; in != nil {
		cp := *in
		cp.ActiveElements = append([]ActiveElement(nil), in.ActiveElements...)
		pr.insts[key] = &cp
		return &cp, nil
	}
	in, found, err := pr.p.opts.Backend.Instance(pr.ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read history instance %d: %w", key, err)
	}
	if !found {
		pr.missing[key] = true
		return nil, nil
	}
	pr.insts[key] = &in
	return &in, nil
}

// original finds the event of a message id, in this batch or the backend
// (among the newest events of its correlation key); zero if not found.
func (pr *projection) original(messageID, ck string) (Event, error) {
	if i, ok := pr.events[messageID]; ok {
		return pr.b.Events[i], nil
	}
	if ck == "" {
		return Event{}, nil
	}
	page, err := pr.p.opts.Backend.Events(pr.ctx, EventQuery{CorrelationKey: ck, Limit: 200})
	if err != nil {
		return Event{}, fmt.Errorf("find the original of duplicate message %q: %w", messageID, err)
	}
	for _, e := range page.Items {
		if e.ID == messageID {
			return e, nil
		}
	}
	return Event{}, nil
}

// put adds doc to the batch slice, replacing an earlier version of the same
// id so every id appears once per batch.
func put[K comparable, T any](docs *[]T, index map[K]int, id K, doc T) {
	if i, ok := index[id]; ok {
		(*docs)[i] = doc
		return
	}
	index[id] = len(*docs)
	*docs = append(*docs, doc)
}

// elementPayload is the payload of element-* changes.
type elementPayload struct {
	ElementKey int64  `json:"elementKey"`
	ScopeKey   int64  `json:"scopeKey"`
	Kind       string `json:"kind"`
	Deviation  bool   `json:"deviation"`
}

// messagePayload is the payload of message changes.
type messagePayload struct {
	MessageID      string           `json:"messageId"`
	Name           string           `json:"name"`
	CorrelationKey string           `json:"correlationKey"`
	Source         string           `json:"source"`
	Outcome        string           `json:"outcome"`
	Reason         string           `json:"reason"`
	Decision       *engine.Decision `json:"decision"`
	EventTime      time.Time        `json:"eventTime"`
	ReadAt         time.Time        `json:"readAt"`
	Topic          string           `json:"topic"`
	Partition      int              `json:"partition"`
	Offset         int64            `json:"offset"`
	Variables      json.RawMessage  `json:"variables"`
	Detail         string           `json:"detail"`
}

// incidentPayload is the payload of incident changes (the engine's feed contract).
type incidentPayload = engine.IncidentPayload

// badChangeError is a feed entry whose payload cannot be read.
type badChangeError struct {
	seq  uint64
	kind engine.ChangeKind
	err  error
}

func (e *badChangeError) Error() string {
	return fmt.Sprintf("change %d (%s): bad payload: %v", e.seq, e.kind, e.err)
}

func (e *badChangeError) Unwrap() error { return e.err }

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

// apply folds one change into the batch. Instance-level effects of a change
// the instance document already reflects (Seq <= LastSeq) are skipped.
func (pr *projection) apply(c *engine.Change) error {
	at, wall := utc(c.Time), utc(c.WallTime)
	bad := func(err error) error { return &badChangeError{seq: c.Seq, kind: c.Kind, err: err} }
	var in *Instance
	fresh := false // the instance document has not seen this change yet
	if c.InstanceKey != 0 && c.Kind != engine.ChangeInstanceStarted {
		var err error
		if in, err = pr.instance(c.InstanceKey); err != nil {
			return err
		}
		fresh = in != nil && c.Seq > in.LastSeq
	}
	touch := func() {
		if fresh {
			in.LastSeq, in.UpdatedAt = c.Seq, wall
		}
	}
	switch c.Kind {
	case engine.ChangeInstanceStarted:
		// Always a fresh document, without reading the backend: should
		// this be a replay (a backend whose checkpoint lags its documents),
		// every later change of the instance is replayed too and rebuilds
		// the same document.
		var pl struct {
			CorrelationKey string `json:"correlationKey"`
		}
		if err := json.Unmarshal(c.Payload, &pl); err != nil {
			return bad(err)
		}
		in := &Instance{
			Key: c.InstanceKey, ProcessID: c.ProcessID, Version: c.Version, CorrelationKey: pl.CorrelationKey,
			State: StateActive, StartedAt: at, ActiveElements: []ActiveElement{}, UpdatedAt: wall, LastSeq: c.Seq,
		}
		delete(pr.missing, c.InstanceKey)
		pr.insts[c.InstanceKey] = in
	case engine.ChangeInstanceCompleted, engine.ChangeInstanceCancelled:
		if !fresh {
			return nil
		}
		in.State = StateCompleted
		if c.Kind == engine.ChangeInstanceCancelled {
			in.State = StateCancelled
		}
		in.EndedAt, in.EndElement = at, c.ElementID
		in.ActiveElements = []ActiveElement{}
		touch()
	case engine.ChangeElementStarted, engine.ChangeElementCompleted, engine.ChangeElementSkipped, engine.ChangeElementTerminated:
		if !fresh {
			return nil
		}
		var pl elementPayload
		if err := json.Unmarshal(c.Payload, &pl); err != nil {
			return bad(err)
		}
		el := ElementInstance{
			Key: pl.ElementKey, InstanceKey: in.Key, ProcessID: in.ProcessID, Version: in.Version, ElementID: c.ElementID,
			Kind: pl.Kind, ScopeKey: pl.ScopeKey, StartedAt: at, LastSeq: c.Seq,
		}
		if c.Kind == engine.ChangeElementStarted {
			el.State = ElementActive
			in.ActiveElements = append(in.ActiveElements, ActiveElement{ElementID: c.ElementID, ElementKey: pl.ElementKey, Since: at})
		} else {
			el.State = map[engine.ChangeKind]string{
				engine.ChangeElementCompleted: ElementCompleted, engine.ChangeElementSkipped: ElementSkipped,
				engine.ChangeElementTerminated: ElementTerminated,
			}[c.Kind]
			for i, a := range in.ActiveElements {
				if a.ElementKey == pl.ElementKey {
					el.StartedAt = a.Since
					in.ActiveElements = append(in.ActiveElements[:i], in.ActiveElements[i+1:]...)
					break
				}
			}
			el.EndedAt = at
			el.DurationMs = at.Sub(el.StartedAt).Milliseconds()
			if c.Kind == engine.ChangeElementSkipped {
				el.Deviation = true
				in.Deviations++
			}
		}
		put(&pr.b.Elements, pr.elements, el.Key, el)
		touch()
	case engine.ChangeVariables:
		if !fresh {
			return nil
		}
		var vars map[string]json.RawMessage
		if err := json.Unmarshal(c.Payload, &vars); err != nil {
			return bad(err)
		}
		m := pr.vars[in.Key]
		if m == nil {
			m = map[string]json.RawMessage{}
			if len(in.Variables) > 0 {
				if err := json.Unmarshal(in.Variables, &m); err != nil {
					return fmt.Errorf("instance %d: stored variables: %w", in.Key, err)
				}
			}
			pr.vars[in.Key] = m
		}
		for k, v := range vars {
			m[k] = v
		}
		touch()
	case engine.ChangeMessage:
		var pl messagePayload
		if err := json.Unmarshal(c.Payload, &pl); err != nil {
			return bad(err)
		}
		e := Event{
			ID: pl.MessageID, MessageID: pl.MessageID, MessageName: pl.Name, CorrelationKey: pl.CorrelationKey,
			Source: pl.Source, Outcome: pl.Outcome, Reason: pl.Reason, Detail: pl.Detail,
			InstanceKey: c.InstanceKey, ProcessID: c.ProcessID, Version: c.Version,
			EventTime: utc(pl.EventTime), ReadAt: utc(pl.ReadAt), RecordedAt: wall,
			Topic: pl.Topic, Partition: pl.Partition, Offset: pl.Offset, Payload: pl.Variables, Seq: c.Seq,
		}
		if e.EventTime.IsZero() {
			e.EventTime = at
		}
		if pl.Decision != nil {
			e.Decision, e.Severity, e.RuleID, e.Note = pl.Decision.Action, pl.Decision.Severity, pl.Decision.RuleID, pl.Decision.Note
		}
		if e.Outcome == string(engine.Duplicate) {
			e.ID = pl.MessageID + "#dup" + strconv.FormatUint(c.Seq, 10)
			if e.InstanceKey == 0 {
				// The feed does not say whose duplicate it is; the original
				// event does.
				orig, err := pr.original(pl.MessageID, pl.CorrelationKey)
				if err != nil {
					return err
				}
				e.InstanceKey, e.ProcessID, e.Version = orig.InstanceKey, orig.ProcessID, orig.Version
			}
		}
		put(&pr.b.Events, pr.events, e.ID, e)
		if fresh && (e.Outcome == string(engine.Started) || e.Outcome == string(engine.Correlated)) {
			in.Events++
		}
		touch()
	case engine.ChangeIncident:
		var pl incidentPayload
		if err := json.Unmarshal(c.Payload, &pl); err != nil {
			return bad(err)
		}
		inc := Incident{
			ID: pl.IncidentID, State: IncidentOpen, Reason: pl.Reason, Severity: pl.Severity, Note: pl.Note, RuleID: pl.RuleID,
			Detail: pl.Detail, MessageID: pl.MessageID, MessageName: pl.MessageName, CorrelationKey: pl.CorrelationKey,
			Source: pl.Source, InstanceKey: c.InstanceKey, ProcessID: c.ProcessID, Version: c.Version, ElementID: c.ElementID,
			EventTime: utc(pl.EventTime), CreatedAt: wall, Raw: pl.Raw, Seq: c.Seq,
		}
		if at, ok := pr.resolved[pl.IncidentID]; ok {
			inc.State, inc.ResolvedAt = IncidentResolved, utc(at)
		}
		put(&pr.b.Incidents, pr.incidents, pl.IncidentID, inc)
		if fresh && inc.State == IncidentOpen {
			in.Incidents++
		}
		touch()
	case engine.ChangeAction, engine.ChangeActionUpdated:
		var a engine.Action
		if err := json.Unmarshal(c.Payload, &a); err != nil {
			return bad(err)
		}
		doc := Action{
			ID: a.ID, OutboxSeq: a.Seq, Type: a.Type, Target: a.Target, ProcessID: a.ProcessID, Version: a.Version,
			InstanceKey: a.InstanceKey, CorrelationKey: a.CorrelationKey, ElementID: a.ElementID, RaisedAt: utc(a.RaisedAt),
			Variables: a.Variables, Headers: a.Headers, Attempts: a.Attempts, State: string(a.State), LastError: a.LastError,
			UpdatedAt: wall, Seq: c.Seq,
		}
		if a.DueAt != nil {
			doc.DueAt = utc(*a.DueAt)
		}
		put(&pr.b.Actions, pr.actions, doc.ID, doc)
		touch()
	default:
		// engine.ChangeIgnored repeats what the message change already
		// says (outcome uncorrelated, decision ignore); unknown kinds come
		// from a newer engine and are skipped.
	}
	return nil
}
