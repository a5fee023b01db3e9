package correlate

import (
	"context"
	"sync"
	"time"

	"github.com/tracker-dev/tracker/engine"
)

// aligner keeps partitions that read a backlog roughly in step by event
// time (watermark alignment): a partition reader with lag waits before
// handing over a record whose event time is more than slack ahead of the
// least event time another lagging partition is at. Events that happened
// earlier on other partitions are then applied first (DESIGN.md §4.5), and
// far fewer messages wait in the engine's buffer while a backlog is read.
//
// Partitions without lag are never held and hold nobody: live traffic flows
// as it comes. A reader stops waiting when the partitions behind it have
// not moved for maxWait, so a partition whose reader is stuck cannot stop
// the others.
type aligner struct {
	slack   time.Duration
	maxWait time.Duration

	mu      sync.Mutex
	at      map[engine.TopicPartition]time.Time // lagging partitions: latest event time handed over or waiting
	min     time.Time                           // least of at
	changed chan struct{}                       // closed and replaced when min rises or a partition leaves
}

func newAligner(slack, maxWait time.Duration) *aligner {
	return &aligner{slack: slack, maxWait: maxWait, at: map[engine.TopicPartition]time.Time{}, changed: make(chan struct{})}
}

// wait blocks until a record of tp with event time et may be handed over.
// lagging tells whether more records sit behind it in the partition.
func (a *aligner) wait(ctx context.Context, tp engine.TopicPartition, et time.Time, lagging bool) {
	if a == nil {
		return
	}
	a.mu.Lock()
	if !lagging {
		a.leaveLocked(tp)
		a.mu.Unlock()
		return
	}
	if prev, ok := a.at[tp]; !ok || et.After(prev) {
		a.at[tp] = et                  // a partition's mark never goes back (back-dated records do not hold others)
		if !ok || !prev.After(a.min) { // only a new partition or the one with the least mark moves the least
			a.recomputeLocked()
		}
	}
	if !et.After(a.min.Add(a.slack)) {
		// No lagging partition is more than slack behind: the usual case,
		// decided without looking at the others one by one.
		a.mu.Unlock()
		return
	}
	var timer *time.Timer
	for {
		if !et.After(a.othersMinLocked(tp).Add(a.slack)) {
			break
		}
		ch := a.changed
		a.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(a.maxWait)
			defer timer.Stop()
		} else {
			timer.Reset(a.maxWait) // the partitions behind made progress: keep waiting
		}
		select {
		case <-ch:
		case <-timer.C:
			return // nothing moved for maxWait: a stuck partition must not stop the others
		case <-ctx.Done():
			return
		}
		a.mu.Lock()
	}
	a.mu.Unlock()
}

// enter registers a partition that has a backlog before its reader
// delivers anything, so that partitions whose readers start first wait for
// it (at most maxWait) instead of running ahead.
func (a *aligner) enter(tp engine.TopicPartition) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.at[tp]; !ok {
		a.at[tp] = time.Time{}
		a.recomputeLocked()
	}
}

// leave removes a partition (caught up, or its reader ended).
func (a *aligner) leave(tp engine.TopicPartition) {
	if a == nil {
		return
	}
	a.mu.Lock()
	a.leaveLocked(tp)
	a.mu.Unlock()
}

func (a *aligner) leaveLocked(tp engine.TopicPartition) {
	if _, ok := a.at[tp]; !ok {
		return
	}
	delete(a.at, tp)
	a.recomputeLocked()
	a.signalLocked() // whoever waited on this partition may go
}

// othersMinLocked is the least mark of the lagging partitions other than tp
// (far future when there are none).
func (a *aligner) othersMinLocked(tp engine.TopicPartition) time.Time {
	m := farFuture
	for p, t := range a.at {
		if p != tp && t.Before(m) {
			m = t
		}
	}
	return m
}

var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

func (a *aligner) recomputeLocked() {
	m := farFuture
	for _, t := range a.at {
		if t.Before(m) {
			m = t
		}
	}
	if m.After(a.min) || m.Equal(farFuture) {
		a.signalLocked()
	}
	a.min = m
}

func (a *aligner) signalLocked() {
	close(a.changed)
	a.changed = make(chan struct{})
}
