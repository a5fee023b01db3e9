package sqlite_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/tracker-dev/tracker/history"
	"github.com/tracker-dev/tracker/history/historytest"
	"github.com/tracker-dev/tracker/history/sqlite"
)

func openTemp(t testing.TB) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(sqlite.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	historytest.Run(t, func(t *testing.T) history.Backend { return openTemp(t) })
}

// TestPagingUnderConcurrentInserts pages through instances while another
// goroutine keeps inserting (WAL readers beside the writer): every instance
// that existed at the start shows up exactly once and in order, and nothing
// repeats.
func TestPagingUnderConcurrentInserts(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	ctx := context.Background()
	const n = 300
	base := &history.Batch{Checkpoint: 1}
	for i := 1; i <= n; i++ {
		base.Instances = append(base.Instances, historytest.Inst(int64(i), "order", 1, fmt.Sprintf("ORD-%d", i), historytest.T0.Add(time.Duration(i)*time.Second), ""))
	}
	if err := s.Apply(ctx, base); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	inserted := make(chan int, 1)
	go func() {
		k, batches := int64(10_000), 0
		defer func() { inserted <- batches }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			var b history.Batch
			for j := range 5 {
				k++
				// Newer than everything, older than everything, and ties.
				at := []time.Time{historytest.T0.Add(time.Hour), historytest.T0, historytest.T0.Add(time.Duration(1+j*50) * time.Second)}[j%3]
				b.Instances = append(b.Instances, historytest.Inst(k, "order", 1, fmt.Sprintf("NEW-%d", k), at, ""))
			}
			b.Checkpoint = uint64(k)
			if err := s.Apply(ctx, &b); err != nil {
				t.Error(err)
				return
			}
			batches++
		}
	}()
	var got []int64
	seen := map[int64]bool{}
	q := history.InstanceQuery{Limit: 17}
	for range 1000 {
		p, err := s.Instances(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range p.Items {
			if seen[in.Key] {
				t.Fatalf("instance %d listed twice", in.Key)
			}
			seen[in.Key] = true
			if in.Key <= n {
				got = append(got, in.Key)
			}
		}
		if q.Cursor = p.Next; q.Cursor == "" {
			break
		}
		runtime.Gosched()
	}
	close(stop)
	t.Logf("%d batches inserted while paging", <-inserted)
	want := make([]int64, 0, n)
	for i := n; i >= 1; i-- {
		want = append(want, int64(i))
	}
	if !slices.Equal(got, want) {
		t.Errorf("original instances in paging order = %v\nwant %v", got, want)
	}
}
