package history

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Backend stores the read model and answers queries on it. Every
// implementation (history/sqlite, history/elastic) runs the conformance suite
// in history/historytest.
//
// Writes come only from the [Projector], one batch at a time, as full
// documents keyed by their ids: applying a document again replaces it with
// the same content, so re-applying a batch after a crash is harmless.
type Backend interface {
	// Apply writes the batch's documents and then records b.Checkpoint. A
	// transactional backend writes both atomically; any backend records the
	// checkpoint only after every document of the batch is durable. An
	// element instance that is finished stays finished: a backend ignores
	// (or may ignore) a later write of it as active, which only a replay
	// produces.
	Apply(ctx context.Context, b *Batch) error
	// Checkpoint returns the feed sequence number recorded by the last
	// successful Apply (0 for an empty store).
	Checkpoint(ctx context.Context) (uint64, error)
	// Refresh makes everything applied so far visible to queries (a no-op for
	// backends that are read-your-writes; Elasticsearch refreshes).
	Refresh(ctx context.Context) error

	// Instance returns one instance document; found is false if unknown.
	Instance(ctx context.Context, key int64) (inst Instance, found bool, err error)
	// ElementInstances returns the element instances of one instance in the
	// order they were entered (by element instance key).
	ElementInstances(ctx context.Context, instanceKey int64) ([]ElementInstance, error)
	// Instances lists instances matching q, one page at a time.
	Instances(ctx context.Context, q InstanceQuery) (Page[Instance], error)
	// Events lists events matching q, one page at a time.
	Events(ctx context.Context, q EventQuery) (Page[Event], error)
	// Incidents lists incidents matching q, one page at a time.
	Incidents(ctx context.Context, q IncidentQuery) (Page[Incident], error)
	// Actions lists actions matching q, one page at a time.
	Actions(ctx context.Context, q ActionQuery) (Page[Action], error)
	// Statistics aggregates element instances of one process.
	Statistics(ctx context.Context, q StatisticsQuery) (Statistics, error)

	// Cleanup deletes instances that finished before `before` with their
	// element instances, events, incidents and actions, and events without an
	// instance whose event time is before `before`.
	Cleanup(ctx context.Context, before time.Time) (CleanupResult, error)
	// Close releases the backend.
	Close() error
}

// Batch is what the [Projector] writes in one [Backend.Apply]. Documents are
// complete (not partial updates); within one slice an id appears at most once.
type Batch struct {
	// Checkpoint is the feed sequence number of the last change the batch
	// reflects.
	Checkpoint uint64
	Events     []Event
	Instances  []Instance
	Elements   []ElementInstance
	Incidents  []Incident
	Actions    []Action
}

// Len is the number of documents in the batch.
func (b *Batch) Len() int {
	return len(b.Events) + len(b.Instances) + len(b.Elements) + len(b.Incidents) + len(b.Actions)
}

// Instance states (the engine's, repeated so backends need not import it).
const (
	StateActive    = "active"
	StateCompleted = "completed"
	StateCancelled = "cancelled"
)

// Element instance states.
const (
	ElementActive     = "active"
	ElementCompleted  = "completed"
	ElementSkipped    = "skipped"
	ElementTerminated = "terminated"
)

// Incident states.
const (
	IncidentOpen     = "open"
	IncidentResolved = "resolved"
)

// Event is one consumed message with what happened to it. Its id is the
// message id; a duplicate delivery gets its own document with the id
// "<message id>#dup<feed seq>" so the original outcome is kept.
type Event struct {
	ID             string          `json:"id"`
	MessageID      string          `json:"messageId"`
	MessageName    string          `json:"messageName"`
	CorrelationKey string          `json:"correlationKey,omitempty"`
	Source         string          `json:"source,omitempty"`
	Outcome        string          `json:"outcome"`          // started | correlated | buffered | duplicate | uncorrelated
	Reason         string          `json:"reason,omitempty"` // for uncorrelated and buffered
	Decision       string          `json:"decision,omitempty"`
	Severity       string          `json:"severity,omitempty"`
	RuleID         string          `json:"ruleId,omitempty"`
	Note           string          `json:"note,omitempty"`
	Detail         string          `json:"detail,omitempty"`
	InstanceKey    int64           `json:"instanceKey,omitempty"`
	ProcessID      string          `json:"processId,omitempty"`
	Version        int             `json:"version,omitempty"`
	EventTime      time.Time       `json:"eventTime"`
	ReadAt         time.Time       `json:"readAt,omitzero"`
	RecordedAt     time.Time       `json:"recordedAt"` // wall time of the engine commit
	Topic          string          `json:"topic,omitempty"`
	Partition      int             `json:"partition,omitempty"`
	Offset         int64           `json:"offset,omitempty"`
	Payload        json.RawMessage `json:"payload,omitempty"` // the message variables (a JSON object)
	Seq            uint64          `json:"seq"`               // feed sequence number of the last change to this document
}

// ActiveElement is an element an instance currently waits at.
type ActiveElement struct {
	ElementID  string    `json:"elementId"`
	ElementKey int64     `json:"elementKey"`
	Since      time.Time `json:"since"`
	// Stuck is filled by the [Service] at query time (never stored).
	Stuck bool `json:"stuck,omitempty"`
}

// Instance is the current state of one process instance.
type Instance struct {
	Key            int64           `json:"key"`
	ProcessID      string          `json:"processId"`
	Version        int             `json:"version"`
	CorrelationKey string          `json:"correlationKey"`
	State          string          `json:"state"` // active | completed | cancelled
	StartedAt      time.Time       `json:"startedAt"`
	EndedAt        time.Time       `json:"endedAt,omitzero"`
	EndElement     string          `json:"endElement,omitempty"`
	ActiveElements []ActiveElement `json:"activeElements"`
	Variables      json.RawMessage `json:"variables,omitempty"` // merged JSON object
	Deviations     int             `json:"deviations"`          // skipped elements
	Incidents      int             `json:"incidents"`           // open incidents (resolving one counts it down)
	Events         int             `json:"events"`              // messages correlated to (or started) the instance
	UpdatedAt      time.Time       `json:"updatedAt"`           // wall time of the last change
	LastSeq        uint64          `json:"lastSeq"`             // feed sequence number of the last change applied
	SLAState       string          `json:"slaState,omitempty"`  // filled by the [Service] at query time: ok | at-risk | breached
}

// ElementInstance is one visit of an instance to an element.
type ElementInstance struct {
	Key         int64     `json:"key"`
	InstanceKey int64     `json:"instanceKey"`
	ProcessID   string    `json:"processId"`
	Version     int       `json:"version"`
	ElementID   string    `json:"elementId"`
	Kind        string    `json:"kind,omitempty"`
	ScopeKey    int64     `json:"scopeKey,omitempty"`
	State       string    `json:"state"` // active | completed | skipped | terminated
	StartedAt   time.Time `json:"startedAt"`
	EndedAt     time.Time `json:"endedAt,omitzero"`
	DurationMs  int64     `json:"durationMs,omitempty"` // EndedAt - StartedAt for finished ones
	Deviation   bool      `json:"deviation,omitempty"`  // passed over by lenient conformance
	LastSeq     uint64    `json:"lastSeq"`
}

// Incident is something an operator should look at: an uncorrelated message
// the decision table sent to incidents, an element error or a failed action.
type Incident struct {
	ID             string    `json:"id"`
	State          string    `json:"state"`  // open | resolved
	Reason         string    `json:"reason"` // e.g. NO_INSTANCE, ELEMENT_ERROR, ACTION_FAILED
	Severity       string    `json:"severity,omitempty"`
	Note           string    `json:"note,omitempty"`
	RuleID         string    `json:"ruleId,omitempty"`
	Detail         string    `json:"detail,omitempty"`
	MessageID      string    `json:"messageId,omitempty"`
	MessageName    string    `json:"messageName,omitempty"`
	CorrelationKey string    `json:"correlationKey,omitempty"`
	Source         string    `json:"source,omitempty"`
	InstanceKey    int64     `json:"instanceKey,omitempty"`
	ProcessID      string    `json:"processId,omitempty"`
	Version        int       `json:"version,omitempty"`
	ElementID      string    `json:"elementId,omitempty"`
	EventTime      time.Time `json:"eventTime,omitzero"`
	CreatedAt      time.Time `json:"createdAt"` // wall time
	ResolvedAt     time.Time `json:"resolvedAt,omitzero"`
	Raw            string    `json:"raw,omitempty"`
	Seq            uint64    `json:"seq"`
}

// Action is one outbox entry and its delivery state.
type Action struct {
	ID             string            `json:"id"`
	OutboxSeq      uint64            `json:"outboxSeq"`
	Type           string            `json:"type"`
	Target         string            `json:"target,omitempty"`
	ProcessID      string            `json:"processId,omitempty"`
	Version        int               `json:"version,omitempty"`
	InstanceKey    int64             `json:"instanceKey,omitempty"`
	CorrelationKey string            `json:"correlationKey,omitempty"`
	ElementID      string            `json:"elementId,omitempty"`
	RaisedAt       time.Time         `json:"raisedAt"`
	DueAt          time.Time         `json:"dueAt,omitzero"`
	Variables      json.RawMessage   `json:"variables,omitempty"`
	Headers        map[string]string `json:"headers,omitempty"`
	Attempts       int               `json:"attempts"`
	State          string            `json:"state"` // pending | delivered | failed
	LastError      string            `json:"lastError,omitempty"`
	UpdatedAt      time.Time         `json:"updatedAt"`
	Seq            uint64            `json:"seq"`
}

// Page is one page of a listing. Next is empty on the last page; pass it as
// the query's Cursor to get the following page. Paging is keyset-based:
// documents inserted while paging never shift or repeat items.
type Page[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next,omitempty"`
}

// Sort orders for [InstanceQuery.Sort].
const (
	SortStartedDesc = "-startedAt" // newest first (default)
	SortStartedAsc  = "startedAt"
	SortKeyDesc     = "-key"
	SortKeyAsc      = "key"
)

// Sort orders for [EventQuery.Sort].
const (
	SortTimeDesc = "-eventTime" // newest first (default)
	SortTimeAsc  = "eventTime"
)

// Limits for page sizes.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// StuckRule says: an instance active at ElementID (of ProcessID, any version
// when Version is 0) since before Before is stuck there.
type StuckRule struct {
	ProcessID string    `json:"processId"`
	Version   int       `json:"version,omitempty"`
	ElementID string    `json:"elementId"`
	Before    time.Time `json:"before"`
}

// InstanceQuery filters instances. Zero fields do not filter.
type InstanceQuery struct {
	ProcessID      string
	Version        int
	State          string    // active | completed | cancelled
	Element        string    // currently active at this element
	CorrelationKey string    // exact
	StartedAfter   time.Time // inclusive
	StartedBefore  time.Time // exclusive
	Q              string    // full text over correlation key and variables
	// Stuck, when non-nil, keeps only instances matching at least one rule
	// (an empty, non-nil slice matches nothing).
	Stuck  []StuckRule
	Sort   string // one of the Sort* constants for instances; "" = SortStartedDesc
	Limit  int    // 0 = DefaultLimit; capped at MaxLimit
	Cursor string // from a previous page's Next
}

// EventQuery filters events. Zero fields do not filter.
type EventQuery struct {
	Outcome        string
	Reason         string
	MessageName    string
	CorrelationKey string
	InstanceKey    int64
	From, To       time.Time // event time, From inclusive, To exclusive
	Q              string    // full text over payload, names, keys and ids
	Sort           string    // SortTimeDesc (default) or SortTimeAsc
	Limit          int
	Cursor         string
}

// IncidentQuery filters incidents, newest first.
type IncidentQuery struct {
	// IDs, when not empty, keeps only incidents with one of these ids (at
	// most MaxLimit of them).
	IDs         []string
	State       string
	Reason      string
	InstanceKey int64
	ProcessID   string
	Limit       int
	Cursor      string
}

// ActionQuery filters actions, newest (by RaisedAt) first.
type ActionQuery struct {
	InstanceKey int64
	State       string
	Limit       int
	Cursor      string
}

// StatisticsQuery selects what [Backend.Statistics] aggregates.
type StatisticsQuery struct {
	ProcessID string // required
	Version   int    // 0 = every version
	// From and To restrict to element instances entered in [From, To). A
	// backend may round them outward to whole hours.
	From, To time.Time
	// Stuck rules (for this process) for the per-element stuck count.
	Stuck []StuckRule
}

// Statistics are per-element figures for one process.
type Statistics struct {
	ProcessID string              `json:"processId"`
	Version   int                 `json:"version,omitempty"`
	Elements  []ElementStatistics `json:"elements"` // sorted by element id
}

// ElementStatistics are the figures of one element. Counts of finished
// element instances (completed, skipped, terminated, durations) honour the
// time range by when the element was entered; Active and Stuck count what is
// active now (entered within the range).
type ElementStatistics struct {
	ElementID  string        `json:"elementId"`
	Active     int64         `json:"active"`
	Completed  int64         `json:"completed"`
	Skipped    int64         `json:"skipped"`
	Terminated int64         `json:"terminated"`
	Incidents  int64         `json:"incidents"` // open incidents at this element
	Stuck      int64         `json:"stuck"`
	DurationMs DurationStats `json:"durationMs"`
}

// DurationStats summarise the durations of completed element instances in
// milliseconds. Percentiles may be approximate (within 5 %).
type DurationStats struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P95   float64 `json:"p95"`
	Avg   float64 `json:"avg"`
}

// CleanupResult says what [Backend.Cleanup] deleted.
type CleanupResult struct {
	Instances int64 `json:"instances"`
	Events    int64 `json:"events"`
}

// ErrInvalidCursor is returned (wrapped) for a cursor a backend cannot read.
var ErrInvalidCursor = errors.New("invalid cursor")

// ErrInvalidQuery is returned (wrapped) for a query a backend cannot run,
// e.g. an unknown sort order or a full-text query with no searchable term.
var ErrInvalidQuery = errors.New("invalid query")

// ClampLimit applies [DefaultLimit] and [MaxLimit].
func ClampLimit(n int) int {
	switch {
	case n <= 0:
		return DefaultLimit
	case n > MaxLimit:
		return MaxLimit
	}
	return n
}
