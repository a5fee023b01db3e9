package engine

import (
	"context"
	"time"
)

// Follower runs a change-feed reader (history, incidents): it calls Step until
// the reader has caught up, then waits for the next commit (Notify) or the
// poll interval; failures are retried with doubling backoff between RetryMin
// and RetryMax, and a failing reader waits out its backoff even when notified.
type Follower struct {
	Step     func(ctx context.Context) (int, error) // applies one batch; returns how many changes it read
	Notify   func() <-chan struct{}                 // usually Engine.FeedNotify
	Poll     time.Duration                          // longest wait without a notification
	RetryMin time.Duration                          // first backoff after a failure (default Poll)
	RetryMax time.Duration                          // longest backoff (default 30s)
	OnError  func(err error, retryIn time.Duration) // reports a failure (log it)
	Between  func(ctx context.Context)              // optional work after each step (e.g. retention)
}

// Run follows until ctx ends and then returns nil.
func (f Follower) Run(ctx context.Context) error {
	if f.RetryMin <= 0 {
		f.RetryMin = f.Poll
	}
	if f.RetryMax <= 0 {
		f.RetryMax = 30 * time.Second
	}
	retry := time.Duration(0)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		n, err := f.Step(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := f.Poll
		switch {
		case err != nil:
			retry = min(max(2*retry, f.RetryMin), f.RetryMax)
			wait = retry
			if f.OnError != nil {
				f.OnError(err, retry)
			}
		case n > 0:
			retry, wait = 0, 0
		default:
			retry = 0
		}
		if f.Between != nil {
			f.Between(ctx)
		}
		if wait == 0 {
			continue
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-f.Notify():
			if err != nil { // a failing reader still waits out its backoff
				select {
				case <-ctx.Done():
					return nil
				case <-timer.C:
				}
			}
		}
	}
}
