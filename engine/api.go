package engine

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/tracker-dev/tracker/models"
)

// Position is where a message came from in Kafka.
type Position struct {
	Topic     string
	Partition int
	Offset    int64
}

// TopicPartition names one Kafka partition.
type TopicPartition struct {
	Topic     string
	Partition int
}

// Reason is why a message did not correlate (DESIGN.md §4.7), or, for a
// buffered message, why it waits.
type Reason string

// Reasons, exactly as DESIGN.md §4.7 lists them.
const (
	ReasonDecodeError           Reason = "DECODE_ERROR"
	ReasonMissingCorrelationKey Reason = "MISSING_CORRELATION_KEY"
	ReasonUnknownMessage        Reason = "UNKNOWN_MESSAGE"
	ReasonInstanceEnded         Reason = "INSTANCE_ENDED"
	ReasonNoInstance            Reason = "NO_INSTANCE"
	ReasonNoSubscription        Reason = "NO_SUBSCRIPTION"
	ReasonBufferExpired         Reason = "BUFFER_EXPIRED"
)

// ReasonSkipAhead is the reason given with a Buffered outcome when a message
// targets a catch element downstream of where the instance waits and is held
// until the watermark passes its event time (lenient conformance, §4.5). It is
// never the reason of an uncorrelated message.
const ReasonSkipAhead Reason = "SKIP_AHEAD"

// Message is one event turned into a message by correlate (or the HTTP ingestion).
type Message struct {
	Name           string
	CorrelationKey string
	ID             string        // message id for deduplication (never empty: correlate fills topic/partition/offset)
	EventTime      time.Time     // when it happened at the source; zero = ReadAt
	ReadAt         time.Time     // when the tracker read it; buffer TTL counts from here; zero = now
	Variables      []byte        // raw JSON object (may be nil)
	Source         string        // source name (for the decision table `source` input)
	BufferTTL      time.Duration // the source's buffer_ttl; 0 = no buffering
	Start          string        // process id to start for none-start models (`start:` mapping), "" if none
	Position       Position      // zero value for HTTP ingestion
	Invalid        Reason        // set by correlate for DECODE_ERROR / MISSING_CORRELATION_KEY: engine records it uncorrelated
	Detail         string        // human text for Invalid (e.g. "invalid JSON at byte 17")
	Raw            []byte        // original record value (kept for incidents / dead letters), may be nil
	Key            []byte        // original record key
	Headers        []Header      // original record headers
	// Redeliver marks a retry of an incident (re-correlate now): the
	// duplicate check is skipped, since the id was recorded the first time.
	Redeliver bool
}

// Header is one Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Result is what happened to a message.
type Result string

// Results of applying a message.
const (
	Started      Result = "started"
	Correlated   Result = "correlated"
	Buffered     Result = "buffered"
	Duplicate    Result = "duplicate"
	Uncorrelated Result = "uncorrelated"
)

// Outcome is what happened to one message of a batch (same index as the input).
type Outcome struct {
	Result      Result
	Reason      Reason    // for Uncorrelated (and for Buffered: why it waits)
	Decision    *Decision // decision taken for an uncorrelated message, nil otherwise
	InstanceKey int64     // 0 if none
	ProcessID   string
	Entered     []string // element ids entered by this message
	Left        []string // element ids completed/terminated/skipped by this message
}

// Decision is what the decision table said about an uncorrelated message.
type Decision struct {
	Action   string // ignore | incident | buffer | dead-letter
	Severity string
	Note     string
	RuleID   string
}

// Decision actions.
const (
	DecisionIgnore     = "ignore"
	DecisionIncident   = "incident"
	DecisionBuffer     = "buffer"
	DecisionDeadLetter = "dead-letter"
)

// Decider is consulted for every uncorrelated message inside Apply/Tick, so the
// decision and its effects (incident, dead-letter outbox entry, ignore record)
// are written in the same atomic batch as the state. A nil Decider makes every
// uncorrelated message an incident (severity "medium").
type Decider interface {
	Decide(ctx context.Context, u UncorrelatedMessage) (Decision, error)
}

// UncorrelatedMessage is the input of a [Decider]. (The contract called it
// Uncorrelated, which collides with the [Uncorrelated] result constant.)
type UncorrelatedMessage struct {
	Message       *Message
	Reason        Reason
	InstanceState string        // state of the instance for the key ("" if none)
	Age           time.Duration // since the message was read
}

// ProcessSource is where the engine finds deployed models; the
// models.Repository satisfies it.
type ProcessSource interface {
	Latest(id string) (*models.Process, bool)
	Get(id string, version int) (*models.Process, bool)
	LatestAll() []*models.Process
}

// Options configure [Open]. The zero value of every field except Dir and
// Processes is a safe default.
type Options struct {
	Dir             string           // Pebble directory
	Processes       ProcessSource    // where deployed models come from
	Decider         Decider          // nil: every uncorrelated message is an incident
	Clock           func() time.Time // nil = time.Now
	DedupeRetention time.Duration    // default 7 days
	CacheSize       int              // correlation-key groups (≈ instances) kept in memory; 0 = 100,000
	BlockCacheBytes int64            // Pebble block cache for cache misses and Tick; 0 = 64 MiB
	Logger          *slog.Logger     // nil = discard
	// NoSync skips fsync on commits. Only for tests and benchmarks: without
	// sync, a machine crash (not a process crash) may lose the last batches.
	NoSync bool
	// GroupCommit lets batches applied with ApplyAsync share one commit
	// (group commit): the engine commits once the open batches hold this
	// many events, or at once when a caller waits for one of them, ticks,
	// reads an instance or closes. Each commit still stores the source
	// positions of its last batch with its state changes, so a crash loses
	// the open batches as a whole and the consumer reads them again. 0 or 1:
	// every batch is its own commit.
	GroupCommit int
}

// InstanceState is the life-cycle state of a process instance.
type InstanceState string

// Instance states.
const (
	InstanceActive    InstanceState = "active"
	InstanceCompleted InstanceState = "completed"
	InstanceCancelled InstanceState = "cancelled" // terminated: by a terminate end event or an interrupting cancel path
)

// ElementState is the state of one element instance.
type ElementState string

// Element instance states.
const (
	ElementActive     ElementState = "active"
	ElementCompleted  ElementState = "completed"
	ElementSkipped    ElementState = "skipped" // a deviation: passed over by lenient conformance
	ElementTerminated ElementState = "terminated"
)

// InstanceView is a read-only copy of one instance.
type InstanceView struct {
	Key            int64
	ProcessID      string
	Version        int
	CorrelationKey string
	State          InstanceState
	StartedAt      time.Time // event time of the starting message
	EndedAt        time.Time // zero while active
	EndElement     string    // the end event the instance finished at, "" while active
	Variables      json.RawMessage
	Elements       []ElementView // every element instance, in the order entered (the path)
	Subscriptions  []SubscriptionView
	Timers         []TimerView
}

// ElementView is one element instance of an [InstanceView].
type ElementView struct {
	Key       int64
	ElementID string
	Kind      models.Kind
	State     ElementState
	ScopeKey  int64 // element instance key of the enclosing sub-process; 0 = process level
	StartedAt time.Time
	EndedAt   time.Time
}

// SubscriptionView is an open message subscription.
type SubscriptionView struct {
	ElementID      string
	MessageName    string
	CorrelationKey string
}

// TimerView is a pending timer.
type TimerView struct {
	ElementID string
	Due       time.Time
}

// TickResult tells what a [Engine.Tick] did.
type TickResult struct {
	Fired    int       // timers fired
	Expired  int       // buffered messages whose TTL passed (BUFFER_EXPIRED)
	Released int       // messages held for skip-ahead that were applied
	Outcomes []Outcome // outcomes of expired and released messages
	NextDue  time.Time // earliest pending timer, zero if none
}

// ChangeKind is the kind of a change-feed entry.
type ChangeKind string

// Change kinds.
const (
	ChangeInstanceStarted   ChangeKind = "instance-started"
	ChangeInstanceCompleted ChangeKind = "instance-completed"
	ChangeInstanceCancelled ChangeKind = "instance-cancelled"
	ChangeElementStarted    ChangeKind = "element-started"
	ChangeElementCompleted  ChangeKind = "element-completed"
	ChangeElementSkipped    ChangeKind = "element-skipped"
	ChangeElementTerminated ChangeKind = "element-terminated"
	ChangeVariables         ChangeKind = "variables"
	ChangeMessage           ChangeKind = "message"
	ChangeIncident          ChangeKind = "incident"
	ChangeAction            ChangeKind = "action"
	ChangeActionUpdated     ChangeKind = "action-updated"
	ChangeIgnored           ChangeKind = "ignored"
)

// Change is one entry of the durable, ordered change feed.
type Change struct {
	Seq         uint64
	Kind        ChangeKind
	Time        time.Time // event time
	WallTime    time.Time
	InstanceKey int64
	ProcessID   string
	Version     int
	ElementID   string
	Payload     json.RawMessage
}

// ActionState is the delivery state of an outbox entry.
type ActionState string

// Action delivery states.
const (
	ActionPending   ActionState = "pending"
	ActionDelivered ActionState = "delivered"
	ActionFailed    ActionState = "failed" // gave up; an incident was raised
)

// Action is one outbox entry: something the tracker must send.
type Action struct {
	Seq            uint64            `json:"seq"`
	ID             string            `json:"actionId"` // stable: hash of instance key, element id, timer due time
	Type           string            `json:"type"`     // task header messageType, else message name, else element id
	Target         string            `json:"target"`   // task header topic / kafka-topic, or named target
	ProcessID      string            `json:"processId"`
	Version        int               `json:"version"`
	InstanceKey    int64             `json:"instanceKey"`
	CorrelationKey string            `json:"correlationKey"`
	ElementID      string            `json:"elementId"`
	RaisedAt       time.Time         `json:"raisedAt"`
	DueAt          *time.Time        `json:"dueAt,omitempty"`
	Variables      json.RawMessage   `json:"variables"`
	Headers        map[string]string `json:"headers,omitempty"`
	Attempts       int               `json:"attempts"`
	Requeued       int               `json:"requeued,omitempty"` // times an operator put it back after it was given up
	State          ActionState       `json:"state"`
	LastError      string            `json:"lastError,omitempty"`
}

// ActionUpdate reports a delivery attempt for [Engine.MarkActions].
type ActionUpdate struct {
	Seq   uint64
	State ActionState // ActionDelivered, ActionPending (failed attempt, will retry) or ActionFailed (gave up → incident)
	Error string
	At    time.Time
}
