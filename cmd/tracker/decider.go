package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"

	"github.com/tracker-dev/tracker/decisiontable"
	"github.com/tracker-dev/tracker/engine"
)

// tableDecider lets the engine consult the decision table for uncorrelated
// messages. The table can be swapped while running (hot reload).
type tableDecider struct {
	table atomic.Pointer[decisiontable.Table]
}

func newTableDecider(t *decisiontable.Table) *tableDecider {
	d := &tableDecider{}
	d.table.Store(t)
	return d
}

// Decide implements engine.Decider.
func (d *tableDecider) Decide(_ context.Context, u engine.UncorrelatedMessage) (engine.Decision, error) {
	in := decisiontable.Input{
		Reason:        string(u.Reason),
		InstanceState: u.InstanceState,
		AgeSeconds:    u.Age.Seconds(),
	}
	if m := u.Message; m != nil {
		in.MessageName, in.CorrelationKey, in.Source = m.Name, m.CorrelationKey, m.Source
		if len(m.Variables) > 0 {
			// Best effort: a payload that is not an object leaves payload.x empty (null).
			_ = json.Unmarshal(m.Variables, &in.Payload)
		}
	}
	dec, err := d.table.Load().Decide(in)
	if err != nil {
		return engine.Decision{}, fmt.Errorf("decision table %s: %w", d.table.Load().File(), err)
	}
	return engine.Decision{Action: dec.Action, Severity: dec.Severity, Note: dec.Note, RuleID: dec.RuleID}, nil
}
