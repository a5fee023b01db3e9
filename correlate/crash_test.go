package correlate

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/tracker-dev/tracker/config"
	"github.com/tracker-dev/tracker/engine"
)

// TestCrashChild is the process TestKillRestartExactlyOnce kills: it consumes
// into the engine directory it is given, with group commit (a kill loses the
// open groups), and reports progress on stdout.
func TestCrashChild(t *testing.T) {
	addr, dir := os.Getenv("CORRELATE_CRASH_ADDR"), os.Getenv("CORRELATE_CRASH_DIR")
	if addr == "" || dir == "" {
		t.Skip("runs only as the child of TestKillRestartExactlyOnce")
	}
	clk := newClock(exampleStart)
	eng, err := engine.Open(engine.Options{Dir: dir, Processes: loadProcs(t), Clock: clk.Now, NoSync: true, GroupCommit: 200})
	if err != nil {
		t.Fatal(err)
	}
	cfg := kafkaCfg(addr, "g")
	cfg.BatchSize = 50
	var applied atomic.Int64
	c, err := New(Options{Engine: eng, Kafka: cfg, Sources: []config.Source{exampleConfigSource("orders")}, Clock: clk.Now, MaxPending: 8,
		OnApplied: func(b []engine.Message, _ []engine.Outcome) {
			fmt.Printf("applied %d\n", applied.Add(int64(len(b))))
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Run(context.Background()); err != nil { // until killed
		t.Fatal(err)
	}
}

// TestKillRestartExactlyOnce kills a consumer process with SIGKILL
// mid-stream, restarts on the same engine directory, and checks that every
// record had exactly one effect.
func TestKillRestartExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the killed member's session to expire (6 s)")
	}
	const orders = 2000
	_, addr := newCluster(t, kfake.SeedTopics(4, "orders"))
	produce(t, addr, orderTraffic("orders", orders, 0)...)
	dir := t.TempDir()

	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v")
	cmd.Env = append(os.Environ(), "CORRELATE_CRASH_ADDR="+addr, "CORRELATE_CRASH_DIR="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		n, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "applied "))
		if err == nil && n >= 800 {
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			killed = true
			break
		}
	}
	_ = cmd.Wait()
	if !killed {
		t.Fatal("the child ended before it was killed")
	}

	clk := newClock(exampleStart)
	eng := openEngine(t, dir, clk, nil)
	var before int64
	for _, off := range eng.Positions() {
		before += off
	}
	if before == 0 || before >= 2*orders {
		t.Fatalf("the killed process applied %d of %d records; the test needs a kill mid-stream", before, 2*orders)
	}
	rec := newRecorder()
	start(t, Options{Engine: eng, Kafka: kafkaCfg(addr, "g"), Sources: []config.Source{exampleConfigSource("orders")}, Clock: clk.Now, OnApplied: rec.onApplied})
	waitFor(t, "the rest applied", func() bool { return int64(rec.count()) == 2*orders-before })
	n, results := feedMessages(t, eng)
	if n != 2*orders || results[string(engine.Started)] != orders || results[string(engine.Correlated)] != orders {
		t.Errorf("engine feed: %d messages %v, want %d: %d started, %d correlated", n, results, 2*orders, orders, orders)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for p, c := range rec.applied {
		if c != 1 {
			t.Errorf("%v applied %d times after the restart", p, c)
		}
	}
	t.Logf("killed after %d of %d records were applied", before, 2*orders)
}

// TestSecondProcessSameDir starts a second consumer process on an engine
// directory this process holds: it must fail at once, saying why.
func TestSecondProcessSameDir(t *testing.T) {
	_, addr := newCluster(t)
	dir := t.TempDir()
	openEngine(t, dir, newClock(exampleStart), nil)
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v")
	cmd.Env = append(os.Environ(), "CORRELATE_CRASH_ADDR="+addr, "CORRELATE_CRASH_DIR="+dir)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the second process did not fail:\n%s", out)
	}
	if !strings.Contains(string(out), "is another tracker running with the same data_dir?") {
		t.Fatalf("the second process failed without saying why:\n%s", out)
	}
}
