package incidents

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tracker-dev/tracker/engine"
)

const maxRetryBackoff = 30 * time.Second

// Run follows the engine's change feed until ctx ends, projecting incidents
// and the outcomes of retries. Failed reads or writes are retried with
// backoff (logged). It returns nil when ctx is cancelled.
func (s *Store) Run(ctx context.Context) error {
	return engine.Follower{
		Step: s.Step, Notify: s.opts.Feed.FeedNotify,
		Poll: s.opts.PollInterval, RetryMin: s.opts.PollInterval, RetryMax: maxRetryBackoff,
		OnError: func(err error, retryIn time.Duration) {
			s.log.Warn("incident projection failed; retrying", "err", err, "retryIn", retryIn)
		},
	}.Run(ctx)
}

// Sync projects everything the feed holds now and returns when caught up.
// Retry uses it before and after applying; it is safe beside Run.
func (s *Store) Sync(ctx context.Context) error {
	for {
		n, err := s.Step(ctx)
		if err != nil {
			return err
		}
		if n < s.opts.BatchSize {
			return nil
		}
	}
}

// Status is what the projector has done so far.
type Status struct {
	Checkpoint  uint64    `json:"checkpoint"` // last feed sequence number projected
	CaughtUp    bool      `json:"caughtUp"`   // the last feed read found nothing new
	LastError   string    `json:"lastError,omitempty"`
	LastErrorAt time.Time `json:"lastErrorAt,omitzero"`
}

// Status reports progress and the last error (for /readyz).
func (s *Store) Status() Status {
	s.smu.Lock()
	defer s.smu.Unlock()
	return s.status
}

func (s *Store) setStatus(cp uint64, caughtUp bool, err error) {
	s.smu.Lock()
	defer s.smu.Unlock()
	if err != nil {
		s.status.LastError, s.status.LastErrorAt = err.Error(), s.clock().UTC()
		return
	}
	s.status.Checkpoint, s.status.CaughtUp = cp, caughtUp
}

// Step projects one batch of feed changes in one transaction, together with
// the new checkpoint, and returns how many changes it read (0: caught up).
func (s *Store) Step(ctx context.Context) (int, error) {
	s.pmu.Lock()
	defer s.pmu.Unlock()
	n, err := s.step(ctx)
	s.setStatus(s.cp, n == 0, err)
	return n, err
}

func (s *Store) step(ctx context.Context) (int, error) {
	changes, err := s.opts.Feed.Feed(s.cp+1, s.opts.BatchSize)
	if err != nil {
		return 0, fmt.Errorf("read change feed from %d: %w", s.cp+1, err)
	}
	if len(changes) == 0 {
		return 0, nil
	}
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("project incidents: %w", err)
	}
	defer tx.Rollback()
	b := &batch{tx: tx, byMsg: map[string]*Incident{}}
	for i := range changes {
		c := &changes[i]
		var err error
		switch c.Kind {
		case engine.ChangeIncident:
			err = s.projectIncident(ctx, b, c)
		case engine.ChangeMessage:
			err = s.projectMessage(ctx, b, c, changes[:i])
		}
		if err != nil {
			return 0, fmt.Errorf("project feed change %d (%s): %w", c.Seq, c.Kind, err)
		}
	}
	if err := b.flush(ctx); err != nil {
		return 0, fmt.Errorf("project incidents: %w", err)
	}
	last := changes[len(changes)-1].Seq
	if _, err := tx.ExecContext(ctx, `INSERT INTO meta (name, value) VALUES ('checkpoint', ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, int64(last)); err != nil {
		return 0, fmt.Errorf("project incidents: store checkpoint: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("project incidents: %w", err)
	}
	s.cp = last
	s.changed(b.resolved...)
	return len(changes), nil
}

// incidentPayload is the payload of incident changes (the engine's feed contract).
type incidentPayload = engine.IncidentPayload

// messagePayload is the payload of engine.ChangeMessage.
type messagePayload struct {
	MessageID      string           `json:"messageId"`
	Name           string           `json:"name"`
	CorrelationKey string           `json:"correlationKey"`
	Source         string           `json:"source"`
	Outcome        engine.Result    `json:"outcome"`
	Reason         engine.Reason    `json:"reason"`
	Decision       *engine.Decision `json:"decision"`
	EventTime      time.Time        `json:"eventTime"`
	ReadAt         time.Time        `json:"readAt"`
	Topic          string           `json:"topic"`
	Partition      int              `json:"partition"`
	Offset         int64            `json:"offset"`
	Variables      json.RawMessage  `json:"variables"`
	Detail         string           `json:"detail"`
}

// batch collects the incidents opened by one Step: the engine writes an
// incident just before the message change that completes it, so both are
// usually in one batch and the incident is inserted once, complete.
type batch struct {
	tx       *sql.Tx
	order    []*Incident
	byMsg    map[string]*Incident // by message id
	resolved []string             // incidents a retry resolved
}

func (b *batch) add(inc *Incident) {
	b.order = append(b.order, inc)
	if inc.MessageID != "" {
		b.byMsg[inc.MessageID] = inc
	}
}

// byMessage finds the latest incident of a message id, in the batch or stored.
func (b *batch) byMessage(ctx context.Context, id string) (inc *Incident, stored bool, err error) {
	if inc := b.byMsg[id]; inc != nil {
		return inc, false, nil
	}
	inc, err = getDoc(ctx, b.tx, `message_id = ? ORDER BY seq DESC LIMIT 1`, id)
	return inc, inc != nil, err
}

func (b *batch) flush(ctx context.Context) error {
	if len(b.order) == 0 {
		return nil
	}
	stmt, err := b.tx.PrepareContext(ctx, insertSQL)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, inc := range b.order {
		if _, err := insertWith(ctx, stmt, inc); err != nil {
			return fmt.Errorf("store incident %s: %w", inc.ID, err)
		}
	}
	return nil
}

type retryRow struct {
	incidentID string
	attempt    int
	actor      string
}

func lookupRetry(ctx context.Context, tx *sql.Tx, msgID string) (*retryRow, error) {
	var r retryRow
	err := tx.QueryRowContext(ctx, `SELECT incident_id, attempt, actor FROM retries WHERE message_id = ?`, msgID).Scan(&r.incidentID, &r.attempt, &r.actor)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read retry %s: %w", msgID, err)
	}
	return &r, nil
}

func (s *Store) projectIncident(ctx context.Context, b *batch, c *engine.Change) error {
	var p incidentPayload
	if err := json.Unmarshal(c.Payload, &p); err != nil {
		return fmt.Errorf("decode incident payload: %w", err)
	}
	if p.IncidentID == "" {
		return errors.New("incident payload without incidentId")
	}
	if p.MessageID != "" && isRetryID(p.MessageID) {
		r, err := lookupRetry(ctx, b.tx, p.MessageID)
		if err != nil {
			return err
		}
		if r != nil {
			// A retry that did not correlate: its message change records
			// the attempt on the original incident. The engine's incident
			// for it is folded into that one: to readers of the feed
			// (history) it is resolved as soon as it was opened.
			if _, err := b.tx.ExecContext(ctx, `INSERT INTO folded (id, into_id, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
				p.IncidentID, r.incidentID, c.WallTime.UTC().UnixNano()); err != nil {
				return fmt.Errorf("fold incident %s into %s: %w", p.IncidentID, r.incidentID, err)
			}
			b.resolved = append(b.resolved, p.IncidentID)
			return nil
		}
	}
	inc := &Incident{
		ID: p.IncidentID, State: StateOpen, Reason: p.Reason, Decision: engine.DecisionIncident, RuleID: p.RuleID,
		Severity: p.Severity, Note: p.Note, Detail: p.Detail, MessageID: p.MessageID, MessageName: p.MessageName, ActionID: p.ActionID,
		CorrelationKey: p.CorrelationKey, Source: p.Source, InstanceKey: c.InstanceKey, ProcessID: c.ProcessID,
		ElementID: c.ElementID, EventTime: p.EventTime, OpenedAt: c.WallTime.UTC(), UpdatedAt: c.WallTime.UTC(), Seq: c.Seq,
		Event: Event{
			Key: p.Key, Headers: p.Headers, Topic: p.Topic, Partition: p.Partition, Offset: p.Offset,
			ReadAt: p.ReadAt, Variables: p.Variables,
		},
	}
	if p.Raw != "" {
		inc.Event.Raw = []byte(p.Raw)
	}
	if p.Action != "" {
		inc.Decision = p.Action
	}
	if inc.EventTime.IsZero() {
		inc.EventTime = c.Time
	}
	if inc.Severity == "" {
		inc.Severity = "medium"
	}
	inc.History = []Entry{{At: inc.OpenedAt, Action: ActionOpened, Actor: ActorTracker, Reason: inc.Reason, Decision: inc.Decision, RuleID: inc.RuleID, Comment: inc.Note}}
	b.add(inc)
	return nil
}

func (s *Store) projectMessage(ctx context.Context, b *batch, c *engine.Change, before []engine.Change) error {
	// Only uncorrelated messages and retries matter; skip the rest unparsed.
	if !isRetryID(string(c.Payload)) && !strings.Contains(string(c.Payload), `"outcome":"uncorrelated"`) {
		return nil
	}
	var p messagePayload
	if err := json.Unmarshal(c.Payload, &p); err != nil {
		return fmt.Errorf("decode message payload: %w", err)
	}
	if isRetryID(p.MessageID) {
		r, err := lookupRetry(ctx, b.tx, p.MessageID)
		if err != nil {
			return err
		}
		if r != nil {
			return s.projectRetry(ctx, b, c, &p, r)
		}
	}
	if p.Outcome != engine.Uncorrelated {
		return nil
	}
	inc, stored, err := b.byMessage(ctx, p.MessageID)
	if err != nil {
		return err
	}
	if inc != nil {
		// The engine writes the incident just before the message change of
		// the same message: add what only the message change carries.
		if inc.Event.Topic == "" && p.Topic != "" {
			inc.Event.Topic, inc.Event.Partition, inc.Event.Offset = p.Topic, p.Partition, p.Offset
		}
		if inc.Event.ReadAt.IsZero() {
			inc.Event.ReadAt = p.ReadAt
		}
		if len(inc.Event.Variables) == 0 {
			inc.Event.Variables = p.Variables
		}
		if !stored {
			return nil
		}
		return update(ctx, b.tx, inc)
	}
	if p.Decision == nil || p.Decision.Action != engine.DecisionDeadLetter {
		return nil
	}
	// A dead letter: the engine wrote the dead-letter outbox entry (with the
	// original value and headers) right before this change, and no incident.
	inc = &Incident{
		ID: messageIncidentID(p.MessageID, p.EventTime, string(p.Reason)), State: StateOpen, Reason: string(p.Reason),
		Decision: engine.DecisionDeadLetter, RuleID: p.Decision.RuleID, Severity: p.Decision.Severity, Note: p.Decision.Note,
		Detail: p.Detail, MessageID: p.MessageID, MessageName: p.Name, CorrelationKey: p.CorrelationKey, Source: p.Source,
		EventTime: p.EventTime, OpenedAt: c.WallTime.UTC(), UpdatedAt: c.WallTime.UTC(), Seq: c.Seq,
		Event: Event{Topic: p.Topic, Partition: p.Partition, Offset: p.Offset, ReadAt: p.ReadAt, Variables: p.Variables},
	}
	if inc.Severity == "" {
		inc.Severity = "medium"
	}
	if a, err := s.deadLetterAction(c.Seq-1, before); err != nil {
		return err
	} else if a != nil {
		inc.Event.Raw = deadLetterRaw(a.Variables)
		for k, v := range a.Headers {
			if k == "reason" {
				continue // added by the engine
			}
			inc.Event.Headers = append(inc.Event.Headers, engine.Header{Key: k, Value: []byte(v)})
		}
		sortHeaders(inc.Event.Headers)
	}
	inc.History = []Entry{{At: inc.OpenedAt, Action: ActionOpened, Actor: ActorTracker, Reason: inc.Reason, Decision: inc.Decision, RuleID: inc.RuleID, Comment: inc.Note}}
	b.add(inc)
	return nil
}

// deadLetterAction finds the dead-letter outbox entry at feed seq, in the
// batch at hand or else in the feed.
func (s *Store) deadLetterAction(seq uint64, before []engine.Change) (*engine.Action, error) {
	var c *engine.Change
	for i := len(before) - 1; i >= 0; i-- {
		if before[i].Seq == seq {
			c = &before[i]
			break
		}
	}
	if c == nil && seq > 0 {
		cs, err := s.opts.Feed.Feed(seq, 1)
		if err != nil {
			return nil, fmt.Errorf("read dead-letter entry %d: %w", seq, err)
		}
		if len(cs) == 1 && cs[0].Seq == seq {
			c = &cs[0]
		}
	}
	if c == nil || c.Kind != engine.ChangeAction {
		return nil, nil
	}
	var a engine.Action
	if err := json.Unmarshal(c.Payload, &a); err != nil {
		return nil, fmt.Errorf("decode dead-letter entry %d: %w", seq, err)
	}
	if a.Type != engine.DecisionDeadLetter {
		return nil, nil
	}
	return &a, nil
}

// deadLetterRaw undoes the engine's encoding of a dead letter's value: JSON
// as is, anything else as a JSON string.
func deadLetterRaw(v json.RawMessage) []byte {
	var s string
	if len(v) > 0 && v[0] == '"' && json.Unmarshal(v, &s) == nil {
		return []byte(s)
	}
	return []byte(v)
}

func sortHeaders(hs []engine.Header) {
	for i := 1; i < len(hs); i++ {
		for j := i; j > 0 && hs[j].Key < hs[j-1].Key; j-- {
			hs[j], hs[j-1] = hs[j-1], hs[j]
		}
	}
}

// projectRetry records what the engine did with a retry: correlated (the
// incident resolves), buffered (a retry is pending), or not correlated.
func (s *Store) projectRetry(ctx context.Context, b *batch, c *engine.Change, p *messagePayload, r *retryRow) error {
	tx := b.tx
	inc, err := getDoc(ctx, tx, `id = ?`, r.incidentID)
	if err != nil {
		return err
	}
	if inc == nil {
		return nil
	}
	for _, e := range inc.History {
		if e.Action == ActionRetryResult && e.MessageID == p.MessageID && e.Outcome == string(p.Outcome) {
			return nil // projected before (the checkpoint was lost)
		}
	}
	at := c.WallTime.UTC()
	e := Entry{At: at, Action: ActionRetryResult, Actor: ActorTracker, Attempt: r.attempt, MessageID: p.MessageID,
		Outcome: string(p.Outcome), Reason: string(p.Reason), InstanceKey: c.InstanceKey}
	if p.Decision != nil {
		e.Decision, e.RuleID = p.Decision.Action, p.Decision.RuleID
	}
	inc.History = append(inc.History, e)
	switch p.Outcome {
	case engine.Started, engine.Correlated:
		if inc.PendingRetry == p.MessageID {
			inc.PendingRetry = ""
		}
		if inc.State == StateOpen {
			b.resolved = append(b.resolved, inc.ID)
			inc.State, inc.ResolvedAt = StateResolved, at
			inc.History = append(inc.History, Entry{At: at, Action: ActionResolved, Actor: ActorTracker,
				Attempt: r.attempt, InstanceKey: c.InstanceKey,
				Comment: fmt.Sprintf("retry %d by %s %s", r.attempt, r.actor, p.Outcome)})
		}
	case engine.Buffered:
		if inc.State == StateOpen {
			inc.PendingRetry = p.MessageID
		}
	default:
		if inc.PendingRetry == p.MessageID {
			inc.PendingRetry = ""
		}
	}
	inc.UpdatedAt = at
	return update(ctx, tx, inc)
}
