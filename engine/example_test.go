package engine_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/tracker-dev/tracker/engine"
	"github.com/tracker-dev/tracker/models"
)

// oneModel is the smallest ProcessSource: one parsed process, version 1.
type oneModel struct{ p *models.Process }

func (o oneModel) Latest(id string) (*models.Process, bool) { return o.p, id == o.p.ID }
func (o oneModel) Get(id string, v int) (*models.Process, bool) {
	return o.p, id == o.p.ID && v == o.p.Version
}
func (o oneModel) LatestAll() []*models.Process { return []*models.Process{o.p} }

// Example shows the calls correlate, a ticker and the feed consumers make.
func Example() {
	data, err := os.ReadFile("testdata/order-fulfillment.bpmn")
	if err != nil {
		log.Fatal(err)
	}
	defs, _ := models.Parse("order-fulfillment.bpmn", data, models.Options{})
	p := defs.Processes[0]
	p.Version = 1
	dir, _ := os.MkdirTemp("", "engine-example")
	defer os.RemoveAll(dir)

	now := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	e, err := engine.Open(engine.Options{Dir: dir, Processes: oneModel{p}, Clock: func() time.Time { return now }})
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()

	ctx := context.Background()
	out, err := e.Apply(ctx, []engine.Message{
		{Name: "OrderPlaced", CorrelationKey: "A-1001", ID: "e-1", EventTime: now, ReadAt: now, BufferTTL: time.Hour,
			Position: engine.Position{Topic: "orders", Partition: 0, Offset: 41}},
		{Name: "Heartbeat", CorrelationKey: "x", ID: "e-7", EventTime: now, ReadAt: now},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, o := range out {
		fmt.Println(o.Result, o.Reason, o.Entered)
	}
	fmt.Println(e.Positions())

	// 15 days later, with the consumer caught up: the delay notice is due.
	now = now.Add(15 * 24 * time.Hour)
	res, _ := e.Tick(ctx, now)
	acts, _ := e.PendingActions(0, 10)
	fmt.Println(res.Fired, acts[0].Type, acts[0].Target)
	// Output:
	// started  [OrderPlaced FulfilOrder FulfilStart PaymentReceived]
	// uncorrelated UNKNOWN_MESSAGE []
	// map[{orders 0}:42]
	// 1 SendDelayNoticeCommand commands
}
