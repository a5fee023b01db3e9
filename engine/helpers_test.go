package engine

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tracker-dev/tracker/models"
)

// procs is a ProcessSource over parsed test models.
type procs struct{ all map[string][]*models.Process }

func (p *procs) Latest(id string) (*models.Process, bool) {
	v := p.all[id]
	if len(v) == 0 {
		return nil, false
	}
	return v[len(v)-1], true
}

func (p *procs) Get(id string, version int) (*models.Process, bool) {
	for _, x := range p.all[id] {
		if x.Version == version {
			return x, true
		}
	}
	return nil, false
}

func (p *procs) LatestAll() []*models.Process {
	var out []*models.Process
	for id := range p.all {
		l, _ := p.Latest(id)
		out = append(out, l)
	}
	return out
}

func (p *procs) deploy(t testing.TB, file string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	defs, problems := models.Parse(file, data, models.Options{})
	for _, pr := range problems {
		t.Logf("%s: %v", file, pr)
	}
	if defs == nil || len(defs.Processes) == 0 {
		t.Fatalf("%s: no processes", file)
	}
	if p.all == nil {
		p.all = map[string][]*models.Process{}
	}
	for _, x := range defs.Processes {
		x.Version = len(p.all[x.ID]) + 1
		p.all[x.ID] = append(p.all[x.ID], x)
	}
}

// testClock is a settable clock.
type testClock struct{ now time.Time }

func (c *testClock) Now() time.Time { return c.now }

var t0 = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)

type harness struct {
	t     testing.TB
	dir   string
	procs *procs
	clock *testClock
	e     *Engine
	dec   Decider
	cache int // Options.CacheSize
	group int // Options.GroupCommit
}

func newHarness(t testing.TB, files ...string) *harness {
	t.Helper()
	return newGroupHarness(t, harnessGroup, files...)
}

// harnessGroup is the Options.GroupCommit of newHarness: 0, or
// $ENGINE_TEST_GROUP_COMMIT (make test runs the package both ways, since the
// product commits in groups and Ticks then do not wait for commits).
var harnessGroup, _ = strconv.Atoi(os.Getenv("ENGINE_TEST_GROUP_COMMIT"))

// newGroupHarness is newHarness with Options.GroupCommit = group.
func newGroupHarness(t testing.TB, group int, files ...string) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), procs: &procs{}, clock: &testClock{now: t0}, group: group}
	for _, f := range files {
		h.procs.deploy(t, f)
	}
	h.open()
	t.Cleanup(func() {
		if h.e != nil {
			h.e.Close()
		}
	})
	return h
}

func (h *harness) open() {
	h.t.Helper()
	e, err := Open(Options{Dir: h.dir, Processes: h.procs, Clock: h.clock.Now, NoSync: true, Decider: h.dec, CacheSize: h.cache, GroupCommit: h.group})
	if err != nil {
		h.t.Fatal(err)
	}
	h.e = e
}

func (h *harness) reopen() {
	h.t.Helper()
	if err := h.e.Close(); err != nil {
		h.t.Fatal(err)
	}
	h.open()
}

func (h *harness) apply(ms ...Message) []Outcome {
	h.t.Helper()
	for i := range ms {
		if ms[i].ReadAt.IsZero() {
			ms[i].ReadAt = h.clock.now
		}
	}
	out, err := h.e.Apply(context.Background(), ms)
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

func (h *harness) tick(wm time.Time) TickResult {
	h.t.Helper()
	res, err := h.e.Tick(context.Background(), wm)
	if err != nil {
		h.t.Fatal(err)
	}
	h.settle()
	return res
}

// settle lands every commit started, so the harness reads what a Tick
// (which under group commit does not wait for its commit) wrote.
func (h *harness) settle() {
	h.e.mu.Lock()
	h.e.settle()
	h.e.mu.Unlock()
}

// msg builds a message for the order-fulfillment example.
func msg(name, key, id string, at time.Duration) Message {
	return Message{
		Name: name, CorrelationKey: key, ID: id, EventTime: t0.Add(at),
		Variables: []byte(fmt.Sprintf(`{"last":%q}`, name)), BufferTTL: time.Hour,
	}
}

// path renders the element instances of an instance as "Id:state" words.
func path(v InstanceView) string {
	var b []string
	for _, el := range v.Elements {
		b = append(b, el.ElementID+":"+string(el.State))
	}
	return strings.Join(b, " ")
}

func outcome(o Outcome) string {
	s := string(o.Result)
	if o.Reason != "" {
		s += " " + string(o.Reason)
	}
	return s
}

func (h *harness) actions() []string {
	h.t.Helper()
	as, err := h.e.PendingActions(0, 100)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, a := range as {
		out = append(out, a.Type)
	}
	return out
}

const day24 = 24 * time.Hour

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
