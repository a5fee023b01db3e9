package actions

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/tracker-dev/tracker/engine"
)

// HeaderActionID is the Kafka record header (and, capitalised, the HTTP
// header) carrying the stable action id that consumers deduplicate on.
const HeaderActionID = "tracker-action-id"

// HeaderActionType is the Kafka record header carrying the action type.
const HeaderActionType = "tracker-action-type"

// Record is the public action record (DESIGN.md §9): the Kafka record value
// and the webhook request body.
type Record struct {
	ActionID       string          `json:"actionId"`
	Type           string          `json:"type"`
	ProcessID      string          `json:"processId"`
	Version        int             `json:"version"`
	InstanceKey    int64           `json:"instanceKey"`
	CorrelationKey string          `json:"correlationKey"`
	ElementID      string          `json:"elementId"`
	RaisedAt       time.Time       `json:"raisedAt"`
	DueAt          *time.Time      `json:"dueAt,omitempty"`
	Variables      json.RawMessage `json:"variables"`
}

// NewRecord builds the record of an outbox entry. When the element has the
// task header `variables` (a comma-separated list of names, as
// kafka-connect-zeebe's job.variables), only those top-level variables are
// included; names the instance does not have are left out.
func NewRecord(a engine.Action) (Record, error) {
	vars, err := selectVariables(a.Variables, a.Headers["variables"])
	if err != nil {
		return Record{}, fmt.Errorf("action %s (%s): %w", a.ID, a.Type, err)
	}
	r := Record{
		ActionID: a.ID, Type: a.Type, ProcessID: a.ProcessID, Version: a.Version,
		InstanceKey: a.InstanceKey, CorrelationKey: a.CorrelationKey, ElementID: a.ElementID,
		RaisedAt: a.RaisedAt.UTC(), Variables: vars,
	}
	if a.DueAt != nil {
		d := a.DueAt.UTC()
		r.DueAt = &d
	}
	return r, nil
}

// encodeRecord returns the JSON value of an action's record.
func encodeRecord(a engine.Action) ([]byte, error) {
	r, err := NewRecord(a)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode action %s: %w", a.ID, err)
	}
	return b, nil
}

// selectVariables limits a JSON object to the comma-separated names in list.
// An empty list keeps everything; empty variables become {}. Variables that
// are not an object (a dead letter's raw record) are kept as they are.
func selectVariables(vars json.RawMessage, list string) (json.RawMessage, error) {
	trimmed := bytes.TrimSpace(vars)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return json.RawMessage("{}"), nil
	}
	if !json.Valid(trimmed) {
		return nil, fmt.Errorf("variables are not valid JSON")
	}
	if strings.TrimSpace(list) == "" || trimmed[0] != '{' {
		return json.RawMessage(trimmed), nil
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &all); err != nil {
		return nil, fmt.Errorf("decode variables: %w", err)
	}
	var b bytes.Buffer
	b.WriteByte('{')
	n := 0
	seen := map[string]bool{}
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		v, ok := all[name]
		if name == "" || !ok || seen[name] {
			continue
		}
		seen[name] = true
		if n > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(name)
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
		n++
	}
	b.WriteByte('}')
	return json.RawMessage(b.Bytes()), nil
}
