package actions

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
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
func encodeRecord(a *engine.Action) ([]byte, error) {
	var b bytes.Buffer
	if err := appendRecord(&b, a); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// appendRecord writes the JSON value of an action's record to b: the same
// bytes as json.Marshal of [NewRecord]'s result, without reflection or maps.
// On error b is left as it was.
func appendRecord(b *bytes.Buffer, a *engine.Action) error {
	start := b.Len()
	fail := func(err error) error {
		b.Truncate(start)
		return err
	}
	b.WriteString(`{"actionId":`)
	appendString(b, a.ID)
	b.WriteString(`,"type":`)
	appendString(b, a.Type)
	b.WriteString(`,"processId":`)
	appendString(b, a.ProcessID)
	b.WriteString(`,"version":`)
	b.Write(strconv.AppendInt(b.AvailableBuffer(), int64(a.Version), 10))
	b.WriteString(`,"instanceKey":`)
	b.Write(strconv.AppendInt(b.AvailableBuffer(), a.InstanceKey, 10))
	b.WriteString(`,"correlationKey":`)
	appendString(b, a.CorrelationKey)
	b.WriteString(`,"elementId":`)
	appendString(b, a.ElementID)
	b.WriteString(`,"raisedAt":`)
	if err := appendTime(b, a.RaisedAt); err != nil {
		return fail(fmt.Errorf("encode action %s: raisedAt: %w", a.ID, err))
	}
	if a.DueAt != nil {
		b.WriteString(`,"dueAt":`)
		if err := appendTime(b, *a.DueAt); err != nil {
			return fail(fmt.Errorf("encode action %s: dueAt: %w", a.ID, err))
		}
	}
	b.WriteString(`,"variables":`)
	vars, err := pickVariables(a.Variables, a.Headers["variables"])
	if err != nil {
		return fail(fmt.Errorf("action %s (%s): %w", a.ID, a.Type, err))
	}
	// As encoding/json writes a json.RawMessage: compacted, with <, >, &,
	// U+2028 and U+2029 escaped.
	at := b.Len()
	if err := json.Compact(b, vars); err != nil {
		return fail(fmt.Errorf("action %s (%s): %w", a.ID, a.Type, errInvalidVariables))
	}
	if needsHTMLEscape(b.Bytes()[at:]) {
		compacted := bytes.Clone(b.Bytes()[at:])
		b.Truncate(at)
		json.HTMLEscape(b, compacted)
	}
	b.WriteByte('}')
	return nil
}

// needsHTMLEscape reports whether p holds <, > or & or (possibly) U+2028 or
// U+2029, whose UTF-8 encodings start with 0xE2.
func needsHTMLEscape(p []byte) bool {
	for _, c := range p {
		if c == '<' || c == '>' || c == '&' || c == 0xE2 {
			return true
		}
	}
	return false
}

// appendString writes s as a JSON string, escaped as encoding/json does.
func appendString(b *bytes.Buffer, s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			b.Write(q)
			return
		}
	}
	b.WriteByte('"')
	b.WriteString(s)
	b.WriteByte('"')
}

// appendTime writes t in UTC as encoding/json writes a time.Time.
func appendTime(b *bytes.Buffer, t time.Time) error {
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return fmt.Errorf("year %d outside of range [0,9999]", y)
	}
	b.WriteByte('"')
	b.Write(t.AppendFormat(b.AvailableBuffer(), time.RFC3339Nano))
	b.WriteByte('"')
	return nil
}

// errInvalidVariables is the error of variables that are not JSON.
var errInvalidVariables = errors.New("variables are not valid JSON")

// selectVariables limits a JSON object to the comma-separated names in list.
// An empty list keeps everything; empty variables become {}. Variables that
// are not an object are kept as they are.
func selectVariables(vars json.RawMessage, list string) (json.RawMessage, error) {
	v, err := pickVariables(vars, list)
	if err != nil {
		return nil, err
	}
	if !json.Valid(v) {
		return nil, errInvalidVariables
	}
	return v, nil
}

// pickVariables is selectVariables without validating what it does not need
// to decode; [appendRecord] validates while it compacts.
func pickVariables(vars json.RawMessage, list string) (json.RawMessage, error) {
	trimmed := bytes.TrimSpace(vars)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return json.RawMessage("{}"), nil
	}
	if strings.TrimSpace(list) == "" || trimmed[0] != '{' {
		return json.RawMessage(trimmed), nil
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &all); err != nil {
		return nil, errInvalidVariables
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
