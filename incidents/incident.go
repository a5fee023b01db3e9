package incidents

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tracker-dev/tracker/engine"
)

// State is the life-cycle state of an incident.
type State string

// Incident states.
const (
	StateOpen     State = "open"
	StateResolved State = "resolved"
)

// Errors callers branch on (the API maps them to 404 and 409).
var (
	ErrNotFound     = errors.New("incident not found")
	ErrResolved     = errors.New("incident is already resolved")
	ErrNotRetryable = errors.New("incident cannot be retried: it has no original event to correlate (only incidents for uncorrelated messages can)")
	ErrRetryPending = errors.New("an earlier retry of this incident is still buffered in the engine; wait for it to correlate or expire, or resolve the incident")
	ErrNoCorrelator = errors.New("retry is not available: no correlator is configured")
)

// RetrySeparator joins an incident's original message id and the attempt
// number into the message id of a retry (see [RetryMessageID]).
const RetrySeparator = "#retry-"

// RetryMessageID is the message id a retry applies the original event with:
// the original id + "#retry-" + attempt (1, 2, ...). The engine deduplicates
// message ids, so the original id would come back as a duplicate; a fresh id
// per attempt gets through while each attempt itself stays idempotent.
func RetryMessageID(original string, attempt int) string {
	return original + RetrySeparator + strconv.Itoa(attempt)
}

// isRetryID reports whether a message id was made by [RetryMessageID].
func isRetryID(id string) bool { return strings.Contains(id, RetrySeparator) }

// Incident is one event (or failed action) that needs an operator's look.
type Incident struct {
	ID             string    `json:"id"`
	State          State     `json:"state"`
	Reason         string    `json:"reason"`   // why it did not correlate (DESIGN.md §4.7), ACTION_FAILED, ELEMENT_ERROR
	Decision       string    `json:"decision"` // incident or dead-letter
	RuleID         string    `json:"ruleId,omitempty"`
	Severity       string    `json:"severity"`
	Note           string    `json:"note,omitempty"`
	Detail         string    `json:"detail,omitempty"`
	MessageID      string    `json:"messageId,omitempty"`
	ActionID       string    `json:"actionId,omitempty"` // ACTION_FAILED: the action a retry puts back in the outbox
	MessageName    string    `json:"messageName,omitempty"`
	CorrelationKey string    `json:"correlationKey,omitempty"`
	Source         string    `json:"source,omitempty"`
	InstanceKey    int64     `json:"instanceKey,omitempty"`
	ProcessID      string    `json:"processId,omitempty"`
	ElementID      string    `json:"elementId,omitempty"`
	EventTime      time.Time `json:"eventTime,omitzero"`
	OpenedAt       time.Time `json:"openedAt"` // when the engine raised it (wall clock)
	UpdatedAt      time.Time `json:"updatedAt"`
	ResolvedAt     time.Time `json:"resolvedAt,omitzero"`
	Attempts       int       `json:"attempts"`               // retries so far
	PendingRetry   string    `json:"pendingRetry,omitempty"` // message id of a retry the engine still buffers
	Seq            uint64    `json:"seq"`                    // engine feed sequence number that opened it
	Event          Event     `json:"event"`
	History        []Entry   `json:"history,omitempty"` // left out of lists
}

// Retryable reports whether the incident carries a message that can be
// correlated again.
func (inc *Incident) Retryable() bool {
	return inc.ActionID != "" || (inc.MessageID != "" && (len(inc.Event.Raw) > 0 || inc.MessageName != ""))
}

// Event is the original event of an incident, as far as the engine's change
// feed carries it. Raw is the record value; Key and Headers are only known
// when the engine records them (see docs/INCIDENTS.md).
type Event struct {
	Raw       []byte
	Key       []byte
	Headers   []engine.Header
	Topic     string // "" for HTTP ingestion
	Partition int
	Offset    int64
	ReadAt    time.Time
	Variables json.RawMessage
}

type headerJSON struct {
	Key         string `json:"key"`
	Value       string `json:"value,omitempty"`
	ValueBase64 string `json:"valueBase64,omitempty"`
}

type eventJSON struct {
	Raw       string          `json:"raw,omitempty"`
	RawBase64 string          `json:"rawBase64,omitempty"` // when the value is not UTF-8 text
	Key       string          `json:"key,omitempty"`
	KeyBase64 string          `json:"keyBase64,omitempty"`
	Headers   []headerJSON    `json:"headers,omitempty"`
	Topic     string          `json:"topic,omitempty"`
	Partition int             `json:"partition"`
	Offset    int64           `json:"offset"`
	ReadAt    time.Time       `json:"readAt,omitzero"`
	Variables json.RawMessage `json:"variables,omitempty"`
}

func textOrBase64(b []byte) (string, string) {
	if utf8.Valid(b) {
		return string(b), ""
	}
	return "", base64.StdEncoding.EncodeToString(b)
}

func fromTextOrBase64(text, b64, what string) ([]byte, error) {
	if b64 == "" {
		if text == "" {
			return nil, nil
		}
		return []byte(text), nil
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("event %s: %w", what, err)
	}
	return b, nil
}

// MarshalJSON writes the record value, key and header values as text when
// they are UTF-8 and as base64 (rawBase64, keyBase64, valueBase64) otherwise.
func (e Event) MarshalJSON() ([]byte, error) {
	j := eventJSON{Topic: e.Topic, Partition: e.Partition, Offset: e.Offset, ReadAt: e.ReadAt, Variables: e.Variables}
	j.Raw, j.RawBase64 = textOrBase64(e.Raw)
	j.Key, j.KeyBase64 = textOrBase64(e.Key)
	for _, h := range e.Headers {
		hj := headerJSON{Key: h.Key}
		hj.Value, hj.ValueBase64 = textOrBase64(h.Value)
		j.Headers = append(j.Headers, hj)
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (e *Event) UnmarshalJSON(b []byte) error {
	var j eventJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	var err error
	ev := Event{Topic: j.Topic, Partition: j.Partition, Offset: j.Offset, ReadAt: j.ReadAt, Variables: j.Variables}
	if ev.Raw, err = fromTextOrBase64(j.Raw, j.RawBase64, "raw"); err != nil {
		return err
	}
	if ev.Key, err = fromTextOrBase64(j.Key, j.KeyBase64, "key"); err != nil {
		return err
	}
	for _, h := range j.Headers {
		v, err := fromTextOrBase64(h.Value, h.ValueBase64, "header "+h.Key)
		if err != nil {
			return err
		}
		ev.Headers = append(ev.Headers, engine.Header{Key: h.Key, Value: v})
	}
	*e = ev
	return nil
}

// Entry is one line of an incident's history.
type Entry struct {
	At          time.Time `json:"at"`
	Action      string    `json:"action"`          // see the Action constants
	Actor       string    `json:"actor,omitempty"` // token name of the operator; "tracker" for automatic steps
	Comment     string    `json:"comment,omitempty"`
	Attempt     int       `json:"attempt,omitempty"`
	MessageID   string    `json:"messageId,omitempty"`
	Outcome     string    `json:"outcome,omitempty"` // result of a retry: started, correlated, buffered, uncorrelated, duplicate
	Reason      string    `json:"reason,omitempty"`
	Decision    string    `json:"decision,omitempty"`
	RuleID      string    `json:"ruleId,omitempty"`
	InstanceKey int64     `json:"instanceKey,omitempty"`
	Error       string    `json:"error,omitempty"`
}

// History actions.
const (
	ActionOpened      = "opened"       // raised by the engine
	ActionRetry       = "retry"        // an operator asked for a retry
	ActionRetryResult = "retry-result" // what the engine did with the retry
	ActionRetryFailed = "retry-failed" // the retry could not be applied (engine error)
	ActionResolved    = "resolved"     // by an operator, or by the tracker after a retry correlated
	ActionRequeued    = "requeued"     // a given-up action was put back in the outbox
)

// ActorTracker is the actor of automatic history entries.
const ActorTracker = "tracker"

// Actor is who asks for an operation.
type Actor struct {
	Name string // the API token's name; "local" for loopback callers without a token
}

// Filter selects incidents. Zero fields match everything.
type Filter struct {
	State          State     `json:"state,omitempty"`
	Reason         string    `json:"reason,omitempty"`
	MessageName    string    `json:"messageName,omitempty"`
	CorrelationKey string    `json:"correlationKey,omitempty"`
	Severity       string    `json:"severity,omitempty"`
	From           time.Time `json:"from,omitzero"` // opened at or after
	To             time.Time `json:"to,omitzero"`   // opened before
	Limit          int       `json:"limit,omitempty"`
	Cursor         string    `json:"cursor,omitempty"`
}

// Limits of [Filter.Limit].
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// Validate checks the filter and names every bad field at once.
func (f *Filter) Validate() error {
	var errs []error
	switch f.State {
	case "", StateOpen, StateResolved:
	default:
		errs = append(errs, fmt.Errorf("state %q: use open or resolved", f.State))
	}
	if f.Limit < 0 || f.Limit > MaxLimit {
		errs = append(errs, fmt.Errorf("limit %d: must be between 1 and %d", f.Limit, MaxLimit))
	}
	if f.Cursor != "" {
		if _, err := parseCursor(f.Cursor); err != nil {
			errs = append(errs, err)
		}
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		errs = append(errs, fmt.Errorf("from %s must be before to %s", f.From.Format(time.RFC3339), f.To.Format(time.RFC3339)))
	}
	return errors.Join(errs...)
}

func parseCursor(c string) (uint64, error) {
	n, err := strconv.ParseUint(c, 10, 64)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("cursor %q: use the next value of the previous page", c)
	}
	return n, nil
}

// Page is one page of a listing, newest first.
type Page struct {
	Items []Incident `json:"items"`
	Next  string     `json:"next,omitempty"` // cursor of the next page; "" on the last
}

// RetryResult is what one retry did.
type RetryResult struct {
	Incident  Incident       `json:"incident"`
	MessageID string         `json:"messageId"`
	Outcome   engine.Outcome `json:"-"`
}

// BulkResult counts what a bulk operation did.
type BulkResult struct {
	Matched   int        `json:"matched"`   // open incidents matching the filter
	Processed int        `json:"processed"` // at most the cap
	Resolved  int        `json:"resolved"`  // resolved by the operation (retries: that correlated)
	Buffered  int        `json:"buffered,omitempty"`
	StillOpen int        `json:"stillOpen,omitempty"` // retries that did not correlate
	Failed    int        `json:"failed"`
	Truncated bool       `json:"truncated"` // more incidents matched than the cap allowed
	Items     []BulkItem `json:"items"`
}

// BulkItem is the result for one incident of a bulk operation.
type BulkItem struct {
	ID      string `json:"id"`
	State   State  `json:"state,omitempty"`
	Outcome string `json:"outcome,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Error   string `json:"error,omitempty"`
}

// messageIncidentID is the id the engine gives the incident of an
// uncorrelated message (engine/apply.go incidentFor): the first 16 bytes of
// sha256("0/<message id>/<event time ns>") in hex, "-", the reason. Dead
// letters, for which the engine writes no incident entry, get the same id so
// that an engine which starts writing one does not produce a duplicate.
func messageIncidentID(msgID string, eventTime time.Time, reason string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%d/%s/%d", 0, msgID, eventTime.UnixNano())
	return hex.EncodeToString(h.Sum(nil)[:16]) + "-" + reason
}
