package actions

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/tracker-dev/tracker/config"
)

// Environment of the child process of TestCrashBetweenAckAndMark.
const (
	envCrashDir    = "TRACKER_ACTIONS_CRASH_DIR"
	envCrashBroker = "TRACKER_ACTIONS_CRASH_BROKER"
)

// The tracker is killed (SIGKILL) after the broker acknowledged an action
// and before the outbox recorded the delivery. After the restart the same
// action goes out again with the same tracker-action-id; nothing is lost and
// consumers deduplicate on the id.
func TestCrashBetweenAckAndMark(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	b := startBroker(t, "commands")
	dir := t.TempDir()
	w := newWorld(t, dir, "order-fulfillment.bpmn")
	w.apply(event{"OrderPlaced", "A-9", 15 * day, orderVars})
	w.tick(now)
	raised := w.pending()
	if len(raised) != 1 {
		t.Fatalf("%d actions raised, want 1", len(raised))
	}
	w.close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), envCrashDir+"="+dir, envCrashBroker+"="+b.Addr())
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("child did not die: %v\n%s", err, out)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want killed by SIGKILL\n%s", err, out)
	}
	first := readTopic(t, b.Addr(), "commands")
	if len(first) != 1 || first[0].headers[HeaderActionID] != raised[0].ID {
		t.Fatalf("before the restart the topic holds %+v, want the one acknowledged action %s", first, raised[0].ID)
	}

	w.open()
	after := w.pending()
	if len(after) != 1 || after[0].ID != raised[0].ID || after[0].Attempts != 0 {
		t.Fatalf("after the crash the outbox holds %+v, want action %s still pending", after, raised[0].ID)
	}
	w.runRelay(Options{Kafka: config.Kafka{Brokers: []string{b.Addr()}}})
	got := readTopic(t, b.Addr(), "commands")
	if len(got) != 2 {
		t.Fatalf("%d records after the restart, want the action twice", len(got))
	}
	for i, c := range got {
		if c.headers[HeaderActionID] != raised[0].ID || c.raw != first[0].raw || c.key != "A-9" {
			t.Errorf("record %d: key %s, headers %v, value %s; want the same record as before the crash", i, c.key, c.headers, c.raw)
		}
	}
	if ups := w.updates(); len(ups) != 1 || ups[0].State != "delivered" {
		t.Errorf("outbox updates %+v, want one delivered", ups)
	}
}

// TestCrashChild is the process TestCrashBetweenAckAndMark kills: it runs
// the relay over the parent's engine directory and SIGKILLs itself once the
// broker has acknowledged a batch, before the mark.
func TestCrashChild(t *testing.T) {
	dir, addr := os.Getenv(envCrashDir), os.Getenv(envCrashBroker)
	if dir == "" || addr == "" {
		t.Skip("only runs as the child of TestCrashBetweenAckAndMark")
	}
	w := newWorld(t, dir)
	r, err := New(Options{Outbox: w.eng, Kafka: config.Kafka{Brokers: []string{addr}}, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r.afterSend = func(items []*item, errs []error) {
		for _, err := range errs {
			if err != nil {
				return
			}
		}
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // never reaches the mark
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	t.Fatal("the relay stopped without delivering anything")
}
