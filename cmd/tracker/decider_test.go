package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/tracker-dev/tracker/engine"
	"github.com/tracker-dev/tracker/simulator"
)

const ignoreAllYAML = `id: ignore-all
hitPolicy: FIRST
inputs:
  - {expression: reason, type: string}
outputs:
  - {name: action, type: string}
rules:
  - id: Rule_All
    then: {action: ignore}
`

func TestTableDeciderLifecycle(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	ctx := context.Background()
	heartbeat := engine.UncorrelatedMessage{Reason: engine.ReasonUnknownMessage, Message: &engine.Message{Name: "Heartbeat"}}

	d, err := loadTableDecider("", filepath.Join(dir, "decisions"), nil, log)
	if err != nil {
		t.Fatal(err)
	}
	if dec, _ := d.Decide(ctx, heartbeat); dec.Action != engine.DecisionIncident || dec.Note != "no decision table configured" {
		t.Fatalf("without a table: %+v", dec)
	}

	d, err = loadTableDecider("", filepath.Join(dir, "decisions"), simulator.DecisionsDMN, log)
	if err != nil {
		t.Fatal(err)
	}
	if dec, _ := d.Decide(ctx, heartbeat); dec.Action != "ignore" || dec.RuleID != "Rule_Noise" {
		t.Fatalf("built-in table: %+v", dec)
	}

	problems, err := d.Replace("bad.dmn", []byte("<definitions/>"))
	if err != nil || len(problems) == 0 {
		t.Fatalf("bad table accepted: %v %v", problems, err)
	}
	if d.Current().ID() != "uncorrelated-events" {
		t.Fatal("a refused table replaced the one in force")
	}

	if problems, err := d.Replace("ignore.yaml", []byte(ignoreAllYAML)); err != nil || len(problems) > 0 {
		t.Fatalf("valid YAML refused: %v %v", problems, err)
	}
	bufferExpired := engine.UncorrelatedMessage{Reason: engine.ReasonBufferExpired, Message: &engine.Message{Name: "PaymentReceived"}}
	if dec, _ := d.Decide(ctx, bufferExpired); dec.Action != "ignore" || dec.RuleID != "Rule_All" {
		t.Fatalf("uploaded table not in force: %+v", dec)
	}

	// A restart without a config file picks the uploaded table over the built-in one.
	d2, err := loadTableDecider("", filepath.Join(dir, "decisions"), simulator.DecisionsDMN, log)
	if err != nil || d2.Current().ID() != "ignore-all" {
		t.Fatalf("uploaded table not kept: %v", err)
	}

	// With a config file, SIGHUP re-reads it; a broken file leaves the old table.
	file := filepath.Join(dir, "table.dmn")
	if err := os.WriteFile(file, simulator.DecisionsDMN, 0o644); err != nil {
		t.Fatal(err)
	}
	d3, err := loadTableDecider(file, filepath.Join(dir, "decisions"), nil, log)
	if err != nil || d3.Current().ID() != "uncorrelated-events" {
		t.Fatalf("config file not preferred: %v", err)
	}
	if err := os.WriteFile(file, []byte("<nope"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d3.Reload(); err == nil {
		t.Fatal("reload of a broken file succeeded")
	}
	if d3.Current().ID() != "uncorrelated-events" {
		t.Fatal("broken reload replaced the table")
	}
}
