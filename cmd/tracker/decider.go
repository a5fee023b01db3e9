package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tracker-dev/tracker/decisiontable"
	"github.com/tracker-dev/tracker/engine"
)

// tableDecider lets the engine consult the decision table for uncorrelated
// messages, and lets operators replace the table while the tracker runs
// (POST /api/v1/decisions, SIGHUP). A replacement that fails validation is
// refused and the table in force stays.
//
// Where the table comes from at start: the config's `decisions` file when set,
// else the table last uploaded (kept in <data_dir>/decisions/), else the
// demo's built-in table, else none (every uncorrelated message is an incident).
type tableDecider struct {
	table   atomic.Pointer[decisiontable.Table]
	mu      sync.Mutex // serialises Replace and Reload
	file    string     // the config's decisions file, "" if none
	saveDir string     // where uploaded tables are kept
	log     *slog.Logger
}

// newTableDecider decides with a fixed table (benchmarks, tests).
func newTableDecider(t *decisiontable.Table) *tableDecider {
	d := &tableDecider{log: slog.New(slog.DiscardHandler)}
	d.table.Store(t)
	return d
}

// loadTableDecider finds the table to start with (see [tableDecider]).
func loadTableDecider(file, saveDir string, builtin []byte, log *slog.Logger) (*tableDecider, error) {
	d := &tableDecider{file: file, saveDir: saveDir, log: log}
	switch saved := d.saved(); {
	case file != "":
		t, err := decisiontable.Load(file)
		if err != nil {
			return nil, fmt.Errorf("load decision table: %w", err)
		}
		d.table.Store(t)
	case saved != "":
		t, err := decisiontable.Load(saved)
		if err != nil {
			return nil, fmt.Errorf("load uploaded decision table: %w", err)
		}
		d.table.Store(t)
	case builtin != nil:
		t, err := decisiontable.Parse("uncorrelated.dmn", builtin)
		if err != nil {
			return nil, fmt.Errorf("built-in decision table: %w", err)
		}
		d.table.Store(t)
	}
	return d, nil
}

// saved returns the path of the last uploaded table, "" if none.
func (d *tableDecider) saved() string {
	for _, ext := range []string{".dmn", ".yaml"} {
		p := filepath.Join(d.saveDir, "current"+ext)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// Decide implements engine.Decider.
func (d *tableDecider) Decide(_ context.Context, u engine.UncorrelatedMessage) (engine.Decision, error) {
	t := d.table.Load()
	if t == nil {
		return engine.Decision{Action: engine.DecisionIncident, Severity: "medium", Note: "no decision table configured"}, nil
	}
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
	dec, err := t.Decide(in)
	if err != nil {
		return engine.Decision{}, fmt.Errorf("decision table %s: %w", t.File(), err)
	}
	return engine.Decision{Action: dec.Action, Severity: dec.Severity, Note: dec.Note, RuleID: dec.RuleID}, nil
}

// Current returns the table in force (api.DecisionTables).
func (d *tableDecider) Current() *decisiontable.Table { return d.table.Load() }

// Replace validates an uploaded table, keeps a copy in the data dir and puts
// it in force (api.DecisionTables).
func (d *tableDecider) Replace(name string, data []byte) ([]decisiontable.Problem, error) {
	if problems := decisiontable.Check(name, data); len(problems) > 0 {
		return problems, nil
	}
	t, err := decisiontable.Parse(name, data)
	if err != nil {
		var ps decisiontable.Problems
		if errors.As(err, &ps) {
			return ps, nil
		}
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	ext := ".dmn"
	if low := strings.ToLower(name); strings.HasSuffix(low, ".yaml") || strings.HasSuffix(low, ".yml") || (!strings.HasSuffix(low, ".dmn") && !strings.HasPrefix(strings.TrimSpace(string(data)), "<")) {
		ext = ".yaml"
	}
	if err := os.MkdirAll(d.saveDir, 0o755); err != nil {
		return nil, fmt.Errorf("keep uploaded decision table: %w", err)
	}
	for _, old := range []string{".dmn", ".yaml"} {
		_ = os.Remove(filepath.Join(d.saveDir, "current"+old))
	}
	tmp := filepath.Join(d.saveDir, "upload.tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return nil, fmt.Errorf("keep uploaded decision table: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(d.saveDir, "current"+ext)); err != nil {
		return nil, fmt.Errorf("keep uploaded decision table: %w", err)
	}
	d.table.Store(t)
	msg := "decision table replaced"
	if d.file != "" {
		msg += "; the config's decisions file takes over again at restart or SIGHUP"
	}
	d.log.Info(msg, "table", t.ID(), "file", name, "rules", len(t.RuleIDs()))
	return nil, nil
}

// Reload re-reads the config's decisions file (else the last uploaded table)
// on SIGHUP. A table that fails validation is refused; the old one stays.
func (d *tableDecider) Reload() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	path := d.file
	if path == "" {
		path = d.saved()
	}
	if path == "" {
		return nil
	}
	t, err := decisiontable.Load(path)
	if err != nil {
		return fmt.Errorf("reload decision table (the old one stays in force): %w", err)
	}
	d.table.Store(t)
	d.log.Info("decision table reloaded", "file", path, "rules", len(t.RuleIDs()))
	return nil
}
