package engine

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

func TestFollowerBacksOffAndCatchesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		notify := make(chan struct{})
		var steps int
		var retries []time.Duration
		var caughtUpAt time.Time
		start := time.Now()
		f := Follower{
			Step: func(context.Context) (int, error) {
				steps++
				switch steps {
				case 1, 2, 3:
					return 0, errors.New("backend down")
				case 4, 5:
					return 10, nil // more to read: no wait
				default:
					if caughtUpAt.IsZero() {
						caughtUpAt = time.Now()
					}
					cancel()
					return 0, nil
				}
			},
			Notify:   func() <-chan struct{} { return notify },
			Poll:     time.Second,
			RetryMax: 3 * time.Second,
			OnError:  func(_ error, in time.Duration) { retries = append(retries, in) },
		}
		if err := f.Run(ctx); err != nil {
			t.Fatal(err)
		}
		if len(retries) != 3 || retries[0] != time.Second || retries[1] != 2*time.Second || retries[2] != 3*time.Second {
			t.Fatalf("backoffs %v, want [1s 2s 3s]", retries)
		}
		if got := caughtUpAt.Sub(start); got != 6*time.Second {
			t.Fatalf("caught up after %v, want 6s (1s+2s+3s of backoff, no waits while reading)", got)
		}
	})
}
