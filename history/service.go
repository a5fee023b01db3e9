package history

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/tracker-dev/tracker/models"
)

// Processes is where the [Service] finds the deployed models for stuck
// thresholds and SLAs. *models.Repository satisfies it.
type Processes interface {
	Latest(id string) (*models.Process, bool)
	LatestAll() []*models.Process
}

// Defaults for [ServiceOptions].
const (
	DefaultMinSamples = 20
	DefaultStatsTTL   = 30 * time.Second
)

// ServiceOptions configure [NewService]. Backend is required.
type ServiceOptions struct {
	Backend Backend
	// Processes gives the stuck thresholds and SLAs; nil = no models (only
	// observed durations count).
	Processes Processes
	// MinSamples is how many completed visits an element needs before twice
	// its observed p95 serves as its stuck threshold (default 20).
	MinSamples int
	// StatsTTL is how long observed p95s are reused (default 30 s).
	StatsTTL time.Duration
	Clock    func() time.Time // nil = time.Now
}

// Service answers the read API's questions on a [Backend], adding stuck
// detection (DESIGN.md §7: waiting at an element longer than its
// tracker.stuckAfter, else its tracker.sla, else twice its observed p95 once
// it has MinSamples completed visits) and the instances' SLA state.
// Thresholds come from the latest version of each model and apply to
// instances of every version.
type Service struct {
	opts  ServiceOptions
	clock func() time.Time

	mu  sync.Mutex
	p95 map[string]p95Entry // by process id
}

type p95Entry struct {
	at  time.Time
	p95 map[string]time.Duration // element id → 2×p95 threshold (only with enough samples)
}

// NewService checks the options.
func NewService(opts ServiceOptions) (*Service, error) {
	var problems []error
	if opts.Backend == nil {
		problems = append(problems, errors.New("history service options: Backend is required"))
	}
	if opts.MinSamples < 0 {
		problems = append(problems, fmt.Errorf("history service options: MinSamples %d must not be negative", opts.MinSamples))
	}
	if opts.StatsTTL < 0 {
		problems = append(problems, fmt.Errorf("history service options: StatsTTL %s must not be negative", opts.StatsTTL))
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}
	if opts.MinSamples == 0 {
		opts.MinSamples = DefaultMinSamples
	}
	if opts.StatsTTL == 0 {
		opts.StatsTTL = DefaultStatsTTL
	}
	s := &Service{opts: opts, clock: opts.Clock, p95: map[string]p95Entry{}}
	if s.clock == nil {
		s.clock = time.Now
	}
	return s, nil
}

// Backend returns the backend the service reads.
func (s *Service) Backend() Backend { return s.opts.Backend }

// Threshold is how long an instance may wait at an element before it counts
// as stuck, and where that figure comes from.
type Threshold struct {
	ElementID string        `json:"elementId"`
	After     time.Duration `json:"-"`
	AfterMs   int64         `json:"afterMs"` // After in milliseconds
	Source    string        `json:"source"`  // stuckAfter | sla | p95
}

// Thresholds returns the stuck thresholds of a process's elements: only
// elements that have one.
func (s *Service) Thresholds(ctx context.Context, processID string) ([]Threshold, error) {
	var out []Threshold
	observed, err := s.observed(ctx, processID)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	if s.opts.Processes != nil {
		if p, ok := s.opts.Processes.Latest(processID); ok {
			for _, id := range sortedKeys(p.Elements) {
				el := p.Elements[id]
				seen[id] = true
				switch {
				case el.StuckAfter > 0:
					out = append(out, Threshold{ElementID: id, After: el.StuckAfter, Source: "stuckAfter"})
				case el.SLA > 0:
					out = append(out, Threshold{ElementID: id, After: el.SLA, Source: "sla"})
				case observed[id] > 0:
					out = append(out, Threshold{ElementID: id, After: observed[id], Source: "p95"})
				}
			}
		}
	}
	for _, id := range sortedKeys(observed) {
		if !seen[id] {
			out = append(out, Threshold{ElementID: id, After: observed[id], Source: "p95"})
		}
	}
	for i := range out {
		out[i].AfterMs = out[i].After.Milliseconds()
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// observed returns 2×p95 per element with enough samples, cached for StatsTTL.
func (s *Service) observed(ctx context.Context, processID string) (map[string]time.Duration, error) {
	now := s.clock()
	s.mu.Lock()
	e, ok := s.p95[processID]
	s.mu.Unlock()
	if ok && now.Sub(e.at) < s.opts.StatsTTL {
		return e.p95, nil
	}
	st, err := s.opts.Backend.Statistics(ctx, StatisticsQuery{ProcessID: processID})
	if err != nil {
		return nil, fmt.Errorf("observed durations of %s: %w", processID, err)
	}
	m := map[string]time.Duration{}
	for _, el := range st.Elements {
		if el.DurationMs.Count >= int64(s.opts.MinSamples) && el.DurationMs.P95 > 0 {
			m[el.ElementID] = time.Duration(2 * el.DurationMs.P95 * float64(time.Millisecond))
		}
	}
	s.mu.Lock()
	s.p95[processID] = p95Entry{at: now, p95: m}
	s.mu.Unlock()
	return m, nil
}

// processIDs are the processes a query concerns.
func (s *Service) processIDs(processID string) []string {
	if processID != "" {
		return []string{processID}
	}
	var out []string
	if s.opts.Processes != nil {
		for _, p := range s.opts.Processes.LatestAll() {
			out = append(out, p.ID)
		}
	}
	return out
}

// StuckRules turns the thresholds into rules as of now. With element set,
// only rules for that element.
func (s *Service) StuckRules(ctx context.Context, processID, element string) ([]StuckRule, error) {
	now := s.clock()
	rules := []StuckRule{}
	for _, pid := range s.processIDs(processID) {
		ths, err := s.Thresholds(ctx, pid)
		if err != nil {
			return nil, err
		}
		for _, th := range ths {
			if element != "" && th.ElementID != element {
				continue
			}
			rules = append(rules, StuckRule{ProcessID: pid, ElementID: th.ElementID, Before: now.Add(-th.After)})
		}
	}
	return rules, nil
}

// Instances lists instances; with stuckOnly, only those stuck at an element
// (at q.Element, if set). Items get their SLA state and stuck markers.
func (s *Service) Instances(ctx context.Context, q InstanceQuery, stuckOnly bool) (Page[Instance], error) {
	var rules []StuckRule
	var err error
	if stuckOnly {
		if rules, err = s.StuckRules(ctx, q.ProcessID, q.Element); err != nil {
			return Page[Instance]{}, err
		}
		q.Stuck = rules
	}
	p, err := s.opts.Backend.Instances(ctx, q)
	if err != nil {
		return p, err
	}
	if err := s.decorate(ctx, p.Items, rules, stuckOnly); err != nil {
		return p, err
	}
	return p, nil
}

// decorate fills SLAState and ActiveElement.Stuck.
func (s *Service) decorate(ctx context.Context, items []Instance, rules []StuckRule, haveRules bool) error {
	byProc := map[string][]StuckRule{}
	for _, r := range rules {
		byProc[r.ProcessID] = append(byProc[r.ProcessID], r)
	}
	now := s.clock()
	for i := range items {
		in := &items[i]
		if !haveRules {
			if _, done := byProc[in.ProcessID]; !done && len(in.ActiveElements) > 0 {
				rs, err := s.StuckRules(ctx, in.ProcessID, "")
				if err != nil {
					return err
				}
				byProc[in.ProcessID] = rs
			}
		}
		for j := range in.ActiveElements {
			a := &in.ActiveElements[j]
			for _, r := range byProc[in.ProcessID] {
				if r.ElementID == a.ElementID && (r.Version == 0 || r.Version == in.Version) && a.Since.Before(r.Before) {
					a.Stuck = true
				}
			}
		}
		in.SLAState = s.slaState(in, now)
	}
	return nil
}

// SLA states of an instance against its process's tracker.sla.
const (
	SLAOk       = "ok"
	SLAAtRisk   = "at-risk"
	SLABreached = "breached"
)

func (s *Service) slaState(in *Instance, now time.Time) string {
	if s.opts.Processes == nil {
		return ""
	}
	p, ok := s.opts.Processes.Latest(in.ProcessID)
	if !ok || p.SLA <= 0 {
		return ""
	}
	end := now
	if !in.EndedAt.IsZero() {
		end = in.EndedAt
	}
	switch took := end.Sub(in.StartedAt); {
	case took >= p.SLA:
		return SLABreached
	case took*5 >= p.SLA*4:
		return SLAAtRisk
	}
	return SLAOk
}

// Statistics returns per-element figures with stuck counts.
func (s *Service) Statistics(ctx context.Context, q StatisticsQuery) (Statistics, error) {
	if q.ProcessID == "" {
		return Statistics{}, fmt.Errorf("%w: statistics need a process id", ErrInvalidQuery)
	}
	rules, err := s.StuckRules(ctx, q.ProcessID, "")
	if err != nil {
		return Statistics{}, err
	}
	q.Stuck = rules
	return s.opts.Backend.Statistics(ctx, q)
}

// Detail is everything the read model knows about one instance.
type Detail struct {
	Instance
	Path       []ElementInstance `json:"path"`
	Events     []Event           `json:"events"`
	Incidents  []Incident        `json:"incidents"`
	Actions    []Action          `json:"actions"`
	Deviations []ElementInstance `json:"deviations"` // skipped element instances
	Thresholds []Threshold       `json:"thresholds,omitempty"`
	// Truncated is true when the instance has more events, incidents or
	// actions than a detail page shows (MaxLimit each).
	Truncated bool `json:"truncated,omitempty"`
}

// Instance returns the detail of one instance; found is false if unknown.
func (s *Service) Instance(ctx context.Context, key int64) (Detail, bool, error) {
	b := s.opts.Backend
	in, found, err := b.Instance(ctx, key)
	if err != nil || !found {
		return Detail{}, found, err
	}
	d := Detail{Instance: in, Deviations: []ElementInstance{}}
	if d.Path, err = b.ElementInstances(ctx, key); err != nil {
		return d, true, err
	}
	for _, e := range d.Path {
		if e.State == ElementSkipped {
			d.Deviations = append(d.Deviations, e)
		}
	}
	ev, err := b.Events(ctx, EventQuery{InstanceKey: key, Sort: SortTimeAsc, Limit: MaxLimit})
	if err != nil {
		return d, true, err
	}
	inc, err := b.Incidents(ctx, IncidentQuery{InstanceKey: key, Limit: MaxLimit})
	if err != nil {
		return d, true, err
	}
	acts, err := b.Actions(ctx, ActionQuery{InstanceKey: key, Limit: MaxLimit})
	if err != nil {
		return d, true, err
	}
	d.Events, d.Incidents, d.Actions = ev.Items, inc.Items, acts.Items
	d.Truncated = ev.Next != "" || inc.Next != "" || acts.Next != ""
	if d.Thresholds, err = s.Thresholds(ctx, in.ProcessID); err != nil {
		return d, true, err
	}
	items := []Instance{d.Instance}
	if err := s.decorate(ctx, items, nil, false); err != nil {
		return d, true, err
	}
	d.Instance = items[0]
	return d, true, nil
}

// Events lists events (no decoration; here so API code needs only the Service).
func (s *Service) Events(ctx context.Context, q EventQuery) (Page[Event], error) {
	return s.opts.Backend.Events(ctx, q)
}
