package incidents

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/tracker-dev/tracker/engine"
)

// ErrCommentRequired is returned by Resolve without a comment.
var ErrCommentRequired = errors.New("a comment is required to resolve an incident")

// Resolve closes an open incident with the operator's comment.
func (s *Store) Resolve(ctx context.Context, id string, by Actor, comment string) (Incident, error) {
	comment = strings.TrimSpace(comment)
	if comment == "" {
		return Incident{}, ErrCommentRequired
	}
	defer s.lock(id)()
	inc, err := s.modify(ctx, id, func(_ *sql.Tx, inc *Incident) error {
		if inc.State == StateResolved {
			return fmt.Errorf("incident %s: %w", id, ErrResolved)
		}
		now := s.clock().UTC()
		inc.State, inc.ResolvedAt = StateResolved, now
		inc.History = append(inc.History, Entry{At: now, Action: ActionResolved, Actor: actorName(by), Comment: comment})
		return nil
	})
	if err != nil {
		return Incident{}, wrap("resolve incident", id, err)
	}
	s.log.Info("incident resolved", "id", id, "actor", actorName(by))
	s.changed(id)
	return inc, nil
}

func actorName(a Actor) string {
	if a.Name == "" {
		return "anonymous"
	}
	return a.Name
}

// wrap adds context unless err already names the incident.
func wrap(what, id string, err error) error {
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrResolved) || errors.Is(err, ErrNotRetryable) ||
		errors.Is(err, ErrRetryPending) || errors.Is(err, ErrNoCorrelator) || errors.Is(err, ErrCommentRequired) {
		return err
	}
	return fmt.Errorf("%s %s: %w", what, id, err)
}

// Retry runs correlation again for an open incident's original event, now,
// through the [Correlator], with message id [RetryMessageID](original,
// attempt). The attempt is recorded before the event is applied; the
// engine's answer is projected from its change feed like everything else, so
// a retry that starts or correlates an instance resolves the incident, one
// that is buffered marks it pending, and one that is still uncorrelated stays
// open with the new reason in its history. Retries of one incident are
// serialised; a resolved incident refuses them.
func (s *Store) Retry(ctx context.Context, id string, by Actor, comment string) (RetryResult, error) {
	if s.opts.Correlator == nil {
		return RetryResult{}, ErrNoCorrelator
	}
	defer s.lock(id)()
	if inc, err := s.Get(ctx, id); err == nil && inc.ActionID != "" {
		return s.requeue(ctx, inc, by, comment)
	}
	// Catch up first: an earlier retry that correlated (even one whose
	// caller crashed before seeing the answer) has resolved the incident.
	if err := s.Sync(ctx); err != nil {
		return RetryResult{}, fmt.Errorf("retry incident %s: %w", id, err)
	}
	var msgID string
	inc, err := s.modify(ctx, id, func(tx *sql.Tx, inc *Incident) error {
		switch {
		case inc.State == StateResolved:
			return fmt.Errorf("incident %s: %w", id, ErrResolved)
		case !inc.Retryable():
			return fmt.Errorf("incident %s (%s): %w", id, inc.Reason, ErrNotRetryable)
		case inc.PendingRetry != "":
			return fmt.Errorf("incident %s (%s): %w", id, inc.PendingRetry, ErrRetryPending)
		}
		inc.Attempts++
		msgID = RetryMessageID(inc.MessageID, inc.Attempts)
		inc.History = append(inc.History, Entry{At: s.clock().UTC(), Action: ActionRetry, Actor: actorName(by),
			Comment: strings.TrimSpace(comment), Attempt: inc.Attempts, MessageID: msgID})
		_, err := tx.ExecContext(ctx, `INSERT INTO retries (message_id, incident_id, attempt, actor) VALUES (?, ?, ?, ?)`,
			msgID, id, inc.Attempts, actorName(by))
		return err
	})
	if err != nil {
		return RetryResult{}, wrap("retry incident", id, err)
	}
	out, rerr := s.opts.Correlator.Retry(ctx, inc, msgID)
	if rerr != nil {
		// The attempt number stays used: whether or not the engine applied
		// it, the next attempt gets a fresh id.
		_, err := s.modify(context.WithoutCancel(ctx), id, func(_ *sql.Tx, inc *Incident) error {
			inc.History = append(inc.History, Entry{At: s.clock().UTC(), Action: ActionRetryFailed, Actor: ActorTracker,
				Attempt: inc.Attempts, MessageID: msgID, Error: rerr.Error()})
			return nil
		})
		return RetryResult{}, errors.Join(fmt.Errorf("retry incident %s: %w", id, rerr), err)
	}
	if err := s.Sync(ctx); err != nil {
		return RetryResult{}, fmt.Errorf("retry incident %s: applied as %s, but reading the outcome failed: %w", id, msgID, err)
	}
	inc, err = s.Get(ctx, id)
	if err != nil {
		return RetryResult{}, err
	}
	s.log.Info("incident retried", "id", id, "actor", actorName(by), "messageId", msgID, "outcome", out.Result, "reason", out.Reason)
	return RetryResult{Incident: inc, MessageID: msgID, Outcome: out}, nil
}

// BulkLimit returns the cap for a bulk operation asking for limit (0 = the
// default): an error when over the configured maximum.
func (s *Store) BulkLimit(limit int) (int, error) {
	if limit == 0 {
		return s.opts.BulkMax, nil
	}
	if limit < 0 || limit > s.opts.BulkMax {
		return 0, fmt.Errorf("limit %d: a bulk operation handles 1 to %d incidents", limit, s.opts.BulkMax)
	}
	return limit, nil
}

// bulkTargets lists up to the cap of open incidents matching f, oldest
// first (so that repeated calls work through a backlog in order).
func (s *Store) bulkTargets(ctx context.Context, f Filter) ([]string, int, int, error) {
	if f.State == StateResolved {
		return nil, 0, 0, errors.New("state resolved: bulk operations work on open incidents")
	}
	f.State = StateOpen
	f.Cursor = ""
	limit, err := s.BulkLimit(f.Limit)
	if err != nil {
		return nil, 0, 0, err
	}
	f.Limit = 0
	if err := f.Validate(); err != nil {
		return nil, 0, 0, err
	}
	matched, err := s.Count(ctx, f)
	if err != nil {
		return nil, 0, 0, err
	}
	where, args := f.where()
	args = append(args, limit)
	rows, err := s.rdb.QueryContext(ctx, `SELECT id FROM incidents`+where+` ORDER BY seq LIMIT ?`, args...)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("list incidents: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, 0, 0, fmt.Errorf("list incidents: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, 0, fmt.Errorf("list incidents: %w", err)
	}
	return ids, matched, limit, nil
}

// ErrBadFilter wraps filter problems of bulk operations (a 400).
var ErrBadFilter = errors.New("bad filter")

// ResolveAll resolves the open incidents matching f (at most f.Limit, default
// and maximum Options.BulkMax), oldest first.
func (s *Store) ResolveAll(ctx context.Context, f Filter, by Actor, comment string) (BulkResult, error) {
	if strings.TrimSpace(comment) == "" {
		return BulkResult{}, ErrCommentRequired
	}
	ids, matched, limit, err := s.bulkTargets(ctx, f)
	if err != nil {
		return BulkResult{}, fmt.Errorf("resolve incidents: %w: %w", ErrBadFilter, err)
	}
	res := BulkResult{Matched: matched, Truncated: matched > limit, Items: []BulkItem{}}
	for _, id := range ids {
		if ctx.Err() != nil {
			break
		}
		res.Processed++
		inc, err := s.Resolve(ctx, id, by, comment)
		it := BulkItem{ID: id, State: inc.State}
		if err != nil {
			res.Failed++
			it.Error = err.Error()
		} else {
			res.Resolved++
		}
		res.Items = append(res.Items, it)
	}
	return res, ctx.Err()
}

// RetryAll retries the open incidents matching f (at most f.Limit, default
// and maximum Options.BulkMax), oldest first, one after the other.
func (s *Store) RetryAll(ctx context.Context, f Filter, by Actor, comment string) (BulkResult, error) {
	if s.opts.Correlator == nil {
		return BulkResult{}, ErrNoCorrelator
	}
	ids, matched, limit, err := s.bulkTargets(ctx, f)
	if err != nil {
		return BulkResult{}, fmt.Errorf("retry incidents: %w: %w", ErrBadFilter, err)
	}
	res := BulkResult{Matched: matched, Truncated: matched > limit, Items: []BulkItem{}}
	for _, id := range ids {
		if ctx.Err() != nil {
			break
		}
		res.Processed++
		r, err := s.Retry(ctx, id, by, comment)
		it := BulkItem{ID: id}
		switch {
		case err != nil:
			res.Failed++
			it.Error = err.Error()
		default:
			it.State, it.Outcome, it.Reason = r.Incident.State, string(r.Outcome.Result), string(r.Outcome.Reason)
			switch {
			case r.Incident.State == StateResolved:
				res.Resolved++
			case r.Outcome.Result == engine.Buffered:
				res.Buffered++
			default:
				res.StillOpen++
			}
		}
		res.Items = append(res.Items, it)
	}
	return res, ctx.Err()
}

// ActionRetrier puts a given-up action back in the outbox (the engine).
type ActionRetrier interface {
	RetryAction(ctx context.Context, id string) (engine.Action, error)
}

// requeue retries an ACTION_FAILED incident: the action goes back in the
// outbox with its id (receivers still deduplicate) and a fresh retry budget,
// and the incident is resolved. If delivery fails again, the engine raises a
// new incident for it.
func (s *Store) requeue(ctx context.Context, inc Incident, by Actor, comment string) (RetryResult, error) {
	if inc.State == StateResolved {
		return RetryResult{}, fmt.Errorf("incident %s: %w", inc.ID, ErrResolved)
	}
	if s.opts.Actions == nil {
		return RetryResult{}, fmt.Errorf("incident %s (%s): %w", inc.ID, inc.Reason, ErrNotRetryable)
	}
	a, err := s.opts.Actions.RetryAction(ctx, inc.ActionID)
	if err != nil {
		return RetryResult{}, fmt.Errorf("retry incident %s: %w", inc.ID, err)
	}
	inc, err = s.modify(ctx, inc.ID, func(_ *sql.Tx, inc *Incident) error {
		now := s.clock().UTC()
		inc.Attempts++
		inc.State, inc.ResolvedAt = StateResolved, now
		inc.History = append(inc.History,
			Entry{At: now, Action: ActionRetry, Actor: actorName(by), Comment: strings.TrimSpace(comment), Attempt: inc.Attempts},
			Entry{At: now, Action: ActionRequeued, Actor: ActorTracker, Attempt: inc.Attempts, Outcome: "requeued"},
			Entry{At: now, Action: ActionResolved, Actor: ActorTracker, Comment: "action " + a.ID + " is back in the outbox"})
		return nil
	})
	if err != nil {
		return RetryResult{}, wrap("retry incident", inc.ID, err)
	}
	s.log.Info("action re-queued", "incident", inc.ID, "action", a.ID, "actor", actorName(by))
	s.changed(inc.ID)
	return RetryResult{Incident: inc, Outcome: engine.Outcome{Result: "requeued", InstanceKey: a.InstanceKey, ProcessID: a.ProcessID}}, nil
}
