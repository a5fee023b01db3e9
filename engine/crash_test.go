package engine

import (
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"reflect"
	"syscall"
	"testing"
	"time"
)

const (
	crashBatches = 120 // batches of 1,000 events from pipelineBatch
	crashEnvDir  = "ENGINE_CRASH_CHILD_DIR"
)

// runStream applies the deterministic stream from where the store's
// positions say it stopped, like a Kafka consumer resuming from the offsets
// the engine stored (not from its own committed offsets). With group > 0 it
// uses group commit (that many events per commit) and a window of pending
// batches, as the consumer does.
func runStream(t testing.TB, dir string, group int) {
	p := &procs{}
	p.deploy(t, "order-fulfillment.bpmn")
	clock := &testClock{now: t0}
	e, err := Open(Options{Dir: dir, Processes: p, Clock: clock.Now, GroupCommit: group})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	start := 0
	for tp, next := range e.Positions() {
		if tp.Topic != "orders" {
			t.Fatalf("unexpected position %v", tp)
		}
		if n := int((next-1)/1000) + 1; n > start {
			start = n
		}
	}
	w := &applyWindow{e: e, check: func(_ []Outcome, err error) {
		if err != nil {
			t.Fatal(err)
		}
	}}
	if group > 0 {
		w.depth = 2 * group / 1000
	}
	for n := start; n < crashBatches; n++ {
		w.apply(context.Background(), pipelineBatch(n, w.buffer()))
	}
	w.drain()
}

// TestCrashChild is the child process of TestCrash; it does nothing unless
// started by it.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnvDir)
	if dir == "" {
		t.Skip("only run as the child of TestCrash")
	}
	runStream(t, dir, 5000) // group commit: a kill loses whole groups
}

// snapshot reads every instance, the feed and the outbox.
func snapshot(t *testing.T, dir string) (map[int64]InstanceView, []Change, map[TopicPartition]int64) {
	p := &procs{}
	p.deploy(t, "order-fulfillment.bpmn")
	e, err := Open(Options{Dir: dir, Processes: p, Clock: (&testClock{now: t0}).Now})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	feed, err := e.Feed(0, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	views := map[int64]InstanceView{}
	for i := range feed {
		feed[i].WallTime = time.Time{}
		if feed[i].Kind == ChangeInstanceStarted {
			v, ok, err := e.Instance(feed[i].InstanceKey)
			if err != nil || !ok {
				t.Fatalf("instance %d: ok=%v err=%v", feed[i].InstanceKey, ok, err)
			}
			views[v.Key] = v
		}
	}
	return views, feed, e.Positions()
}

// TestCrash kills a child process applying a large batch stream with
// SIGKILL at random points, restarts it until it finishes, and compares the
// final state with an uninterrupted run: every event took effect exactly once.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs child processes")
	}
	want := t.TempDir()
	runStream(t, want, 0)

	dir := t.TempDir()
	r := rand.New(rand.NewPCG(7, 11))
	kills := 0
	for attempt := 0; ; attempt++ {
		if attempt > 200 {
			t.Fatal("child never finished")
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnvDir+"="+dir)
		out := &limitedBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		kill := time.Duration(50+r.IntN(400)) * time.Millisecond
		if kills >= 6 {
			kill = time.Hour // enough crashes: let it finish
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("child failed: %v\n%s", err, out.b)
			}
			goto finished
		case <-time.After(kill):
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-done
			kills++
		}
	}
finished:
	t.Logf("child killed %d times", kills)
	wantViews, wantFeed, wantPos := snapshot(t, want)
	gotViews, gotFeed, gotPos := snapshot(t, dir)
	if !reflect.DeepEqual(gotPos, wantPos) {
		t.Errorf("positions differ:\n got %v\nwant %v", gotPos, wantPos)
	}
	if len(gotViews) != len(wantViews) {
		t.Fatalf("%d instances, want %d", len(gotViews), len(wantViews))
	}
	for k, w := range wantViews {
		if g := gotViews[k]; !reflect.DeepEqual(g, w) {
			t.Fatalf("instance %d differs:\n got %+v\nwant %+v", k, g, w)
		}
	}
	if len(gotFeed) != len(wantFeed) {
		t.Fatalf("feed has %d entries, want %d", len(gotFeed), len(wantFeed))
	}
	for i := range wantFeed {
		if !reflect.DeepEqual(gotFeed[i], wantFeed[i]) {
			t.Fatalf("feed entry %d differs:\n got %+v\nwant %+v", i, gotFeed[i], wantFeed[i])
		}
	}
}

type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if len(l.b) < 1<<16 {
		l.b = append(l.b, p...)
	}
	return len(p), nil
}
