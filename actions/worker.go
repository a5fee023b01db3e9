package actions

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/tracker-dev/tracker/engine"
)

// item is one action on its way to a target.
type item struct {
	a     engine.Action // Attempts counts attempts recorded so far
	seen  time.Time     // when the relay read it
	first time.Time     // first attempt by this process; MaxAge counts from here
}

// target is one destination with its own queue, backoff and worker.
type target struct {
	name   string // metric label: configured target name or topic
	kind   string
	size   int // queue capacity
	sender sender
	wake   chan struct{}

	mu      sync.Mutex
	queue   []*item // in outbox order
	fails   int     // consecutive failed attempts
	lastErr string
	retryAt time.Time
}

// sender delivers a batch and returns one error per item (nil = delivered).
// An error wrapped with [permanent] is not worth retrying.
type sender interface {
	send(ctx context.Context, items []*item) []error
	close() error
}

// permanentError marks a failure that retrying cannot fix (a 4xx answer, a
// record too large, a target that is not configured).
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func permanent(err error) error { return &permanentError{err} }

func isPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

func (t *target) push(it *item) bool {
	t.mu.Lock()
	if len(t.queue) >= t.size {
		t.mu.Unlock()
		return false
	}
	t.queue = append(t.queue, it)
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
	return true
}

// linger waits until the queue holds limit actions or d has passed; it
// returns false if ctx ended.
func (t *target) linger(ctx context.Context, d time.Duration, limit int) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
			return true
		case <-t.wake:
			t.mu.Lock()
			full := len(t.queue) >= limit
			t.mu.Unlock()
			if full {
				return true
			}
		}
	}
}

func (t *target) free() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.size - len(t.queue)
}

func (t *target) status() TargetStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	return TargetStatus{Name: t.name, Kind: t.kind, Queued: len(t.queue), Failures: t.fails, LastError: t.lastErr, RetryAt: t.retryAt}
}

// webhookBatch is the most webhook requests in flight per target.
const webhookBatch = 8

// markJob is one attempt's outcome on its way into the outbox.
type markJob struct {
	updates []engine.ActionUpdate
	done    []*item
	n       int
	sent    time.Duration
}

// work delivers the target's queue in order until ctx ends. After a failed
// attempt that is worth retrying, the whole target backs off: a dead target
// is probed with one batch at a time, not hammered with every action.
//
// Marking runs in a second goroutine so that the next batch is sent while the
// previous one is recorded; an action stays in flight (and is not read from
// the outbox again) until its mark is durable.
func (r *Relay) work(ctx context.Context, t *target) (err error) {
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	marks := make(chan markJob, 2)
	var markErr error
	markDone := make(chan struct{})
	go func() {
		defer close(markDone)
		for j := range marks {
			// Record every attempt that finished meanwhile with one write.
		coalesce:
			for {
				select {
				case more, ok := <-marks:
					if !ok {
						break coalesce
					}
					j.updates = append(j.updates, more.updates...)
					j.done = append(j.done, more.done...)
					j.n += more.n
					j.sent += more.sent
				default:
					break coalesce
				}
			}
			if markErr != nil {
				continue
			}
			start := r.clock()
			if err := r.mark(ctx, j.updates); err != nil {
				markErr = err
				stop()
				continue
			}
			r.log.Debug("attempted batch", "target", t.name, "actions", j.n, "send", j.sent, "mark", r.clock().Sub(start))
			r.finished(j.done)
		}
	}()
	defer func() {
		close(marks)
		<-markDone
		if markErr != nil {
			if ctx.Err() != nil {
				r.log.Warn("stopped before the outbox recorded a delivery; it will be sent again", "target", t.name, "err", markErr)
				return
			}
			err = markErr
		}
	}()

	limit := r.opts.BatchSize
	if t.kind == kindWebhook {
		limit = min(limit, webhookBatch)
	}
	var backoff time.Duration
	lingered := false
	for {
		if backoff > 0 {
			timer := time.NewTimer(backoff)
			select {
			case <-wctx.Done():
				timer.Stop()
				return nil
			case <-timer.C:
			}
			backoff = 0
		}
		t.mu.Lock()
		n := min(len(t.queue), limit)
		batch := append([]*item(nil), t.queue[:n]...)
		t.mu.Unlock()
		if n == 0 {
			select {
			case <-wctx.Done():
				return nil
			case <-t.wake:
			}
			continue
		}
		if n < limit && r.opts.Linger > 0 && !lingered {
			lingered = true
			if !t.linger(wctx, r.opts.Linger, limit) {
				return nil
			}
			continue
		}
		lingered = false
		now := r.clock()
		for _, it := range batch {
			if it.first.IsZero() {
				it.first = now
			}
		}
		errs := t.sender.send(wctx, batch)
		if wctx.Err() != nil {
			// Stopping: record what was acknowledged all the same (fewer
			// duplicates); the rest goes out again after the next start.
			var updates []engine.ActionUpdate
			var done []*item
			for i, it := range batch {
				if errs[i] == nil {
					updates = append(updates, engine.ActionUpdate{Seq: it.a.Seq, State: engine.ActionDelivered, At: r.clock()})
					done = append(done, it)
					r.metrics.delivered(it, t)
					r.delivered.Add(1)
				}
			}
			if len(updates) > 0 {
				marks <- markJob{updates: updates, done: done, n: len(done)}
			}
			return nil
		}
		if r.afterSend != nil {
			r.afterSend(batch, errs)
		}
		updates, done, retry := r.judge(t, batch, errs)
		t.mu.Lock()
		// The batch is the head of the queue (only this worker removes
		// items); what is to be retried stays at the head, in order.
		var again []*item
		if len(done) < n {
			finished := make(map[*item]bool, len(done))
			for _, it := range done {
				finished[it] = true
			}
			for _, it := range batch {
				if !finished[it] {
					again = append(again, it)
				}
			}
		}
		clear(t.queue[:n]) // let delivered items be collected
		t.queue = t.queue[n:]
		if len(again) > 0 {
			t.queue = append(again, t.queue...)
		}
		if retry != nil {
			t.fails++
			backoff = r.opts.Backoff(t.fails)
			t.lastErr, t.retryAt = retry.Error(), r.clock().Add(backoff)
		} else if len(done) > 0 {
			t.fails, t.lastErr, t.retryAt = 0, "", time.Time{}
		}
		t.mu.Unlock()
		select {
		case marks <- markJob{updates: updates, done: done, n: n, sent: r.clock().Sub(now)}:
		case <-wctx.Done():
			// Only a failed mark stops wctx while ctx lives; then nothing more is recorded.
			return nil
		}
	}
}

// judge turns the results of one attempt into outbox updates. It returns
// the items that left the outbox (delivered or failed) and the first error
// worth retrying, if any.
func (r *Relay) judge(t *target, batch []*item, errs []error) (updates []engine.ActionUpdate, done []*item, retry error) {
	now := r.clock()
	updates = make([]engine.ActionUpdate, 0, len(batch))
	for i, it := range batch {
		err := errs[i]
		attempts := it.a.Attempts + 1
		u := engine.ActionUpdate{Seq: it.a.Seq, At: now}
		switch {
		case err == nil:
			u.State = engine.ActionDelivered
			done = append(done, it)
			r.metrics.delivered(it, t)
			r.delivered.Add(1)
		case isPermanent(err) || attempts >= r.opts.MaxAttempts || now.Sub(it.first) >= r.opts.MaxAge:
			u.State, u.Error = engine.ActionFailed, err.Error()
			done = append(done, it)
			r.metrics.failed(it, t)
			r.failed.Add(1)
			r.log.Warn("action failed: raising an incident", "action", it.a.ID, "type", it.a.Type, "target", t.name,
				"attempts", attempts, "err", err)
		default:
			u.State, u.Error = engine.ActionPending, err.Error()
			it.a.Attempts = attempts
			if retry == nil {
				retry = err
			}
			r.metrics.attemptFailed(t)
		}
		updates = append(updates, u)
	}
	if retry != nil {
		r.log.Info("delivery failed, will retry", "target", t.name, "err", retry)
	}
	return updates, done, retry
}

// markTries bounds how often a failing MarkActions is repeated.
const markTries = 5

// markChunk is the most updates one MarkActions call carries: the engine
// holds its write lock for a call, and correlation waits meanwhile.
const markChunk = 1000

// mark records the updates, at most markChunk per outbox write. It does not
// give up when ctx ends — a delivered action that is not marked would be
// sent again — but bounds the wait.
func (r *Relay) mark(ctx context.Context, updates []engine.ActionUpdate) error {
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	for chunk := range slices.Chunk(updates, markChunk) {
		var err error
		for try := 1; try <= markTries; try++ {
			if err = r.opts.Outbox.MarkActions(mctx, chunk); err == nil {
				break
			}
			if errors.Is(err, engine.ErrClosed) || mctx.Err() != nil {
				break
			}
			time.Sleep(time.Duration(try) * 100 * time.Millisecond)
		}
		if err != nil {
			return fmt.Errorf("record delivery of %d actions in the outbox: %w", len(chunk), err)
		}
	}
	return nil
}

// invalidSender fails every action of a target that cannot be resolved.
type invalidSender struct{ reason string }

func (s invalidSender) send(_ context.Context, items []*item) []error {
	errs := make([]error, len(items))
	for i := range errs {
		errs[i] = permanent(errors.New(s.reason))
	}
	return errs
}

func (invalidSender) close() error { return nil }
