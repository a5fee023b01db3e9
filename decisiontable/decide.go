package decisiontable

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Input is what the tracker knows about an uncorrelated event; its fields are
// the names input expressions use (DESIGN.md §5). Empty strings are null in
// the table, so a test "null" on correlationKey matches a missing key.
type Input struct {
	Reason         string         `json:"reason"`         // BUFFER_EXPIRED, NO_INSTANCE, DECODE_ERROR, …
	MessageName    string         `json:"messageName"`    // the event's message name
	CorrelationKey string         `json:"correlationKey"` // the event's correlation key
	Source         string         `json:"source"`         // the topic or "http"
	AgeSeconds     float64        `json:"ageSeconds"`     // seconds since the tracker read the event
	InstanceState  string         `json:"instanceState"`  // state of the instance for the key, if any
	Payload        map[string]any `json:"payload"`        // the decoded event, read as payload.x.y
}

func nullable(s string) value {
	if s == "" {
		return value{}
	}
	return stringValue(s)
}

// context returns the input as an evaluation context map (empty strings are
// nil), for FEEL expressions that need one.
func (in *Input) context() map[string]any {
	m := map[string]any{"ageSeconds": in.AgeSeconds}
	for k, v := range map[string]string{
		"reason": in.Reason, "messageName": in.MessageName, "correlationKey": in.CorrelationKey,
		"source": in.Source, "instanceState": in.InstanceState,
	} {
		if v == "" {
			m[k] = nil
		} else {
			m[k] = v
		}
	}
	if in.Payload != nil {
		m["payload"] = in.Payload
	} else {
		m["payload"] = nil
	}
	return m
}

// lookup resolves a name path without building a context map.
func (in *Input) lookup(path []string) value {
	if path[0] == "payload" {
		if in.Payload == nil {
			return value{}
		}
		return lookupMap(in.Payload, path[1:])
	}
	if len(path) > 1 {
		return value{} // the other fields have no properties
	}
	switch path[0] {
	case "reason":
		return nullable(in.Reason)
	case "messageName":
		return nullable(in.MessageName)
	case "correlationKey":
		return nullable(in.CorrelationKey)
	case "source":
		return nullable(in.Source)
	case "ageSeconds":
		return numberValue(in.AgeSeconds)
	case "instanceState":
		return nullable(in.InstanceState)
	}
	return value{}
}

// Decision is what to do with an uncorrelated event.
type Decision struct {
	Action   string `json:"action"`             // ignore, incident, buffer or dead-letter
	Severity string `json:"severity,omitempty"` // the rule's severity output, "" without one
	Note     string `json:"note,omitempty"`     // the rule's note output
	RuleID   string `json:"ruleId"`             // the deciding rule; "" when no rule matched
}

// NoMatchNote is the note of the decision when no rule matched.
const NoMatchNote = "no rule of the decision table matched"

// Decide evaluates the table for an uncorrelated event and reads the outputs
// action, severity and note of the deciding rule: the single result of
// UNIQUE, FIRST, PRIORITY and ANY tables, the first result of COLLECT, RULE
// ORDER and OUTPUT ORDER tables. When no rule matches the decision is
// Action "incident" with RuleID "" and Note [NoMatchNote].
//
// A table without an action output, a COLLECT aggregation, an action other
// than ignore, incident, buffer or dead-letter, or a hit policy violation is
// an [*EvalError]. Decide does not allocate for tables whose outputs are
// literals and that have at most 8 inputs.
func (t *Table) Decide(in Input) (Decision, error) {
	return t.decide(&scope{in: in, hasIn: true})
}

func (t *Table) decide(s *scope) (Decision, error) {
	if t.agg != aggNone {
		return Decision{}, t.evalErr("", "hit policy %s gives an aggregate, not an action", t.HitPolicy())
	}
	if t.action < 0 {
		return Decision{}, t.evalErr("", "the table has no output named %q, so it cannot decide what to do with an event", outAction)
	}
	var vbuf [8]value
	var hbuf [16]int
	hits, err := t.selectRules(s, vbuf[:0], hbuf[:0])
	if err != nil {
		return Decision{}, err
	}
	if len(hits) == 0 {
		return Decision{Action: ActionIncident, Note: NoMatchNote}, nil
	}
	r := &t.rules[hits[0]]
	av, err := t.outValue(s, r, t.action)
	if err != nil {
		return Decision{}, err
	}
	if av.k != kString || !slices.Contains(actions, av.s) {
		return Decision{}, t.evalErr(r.id, "action %s is not one of %s", av, strings.Join(actions, ", "))
	}
	d := Decision{Action: av.s, RuleID: r.id}
	if d.Severity, err = t.text(s, r, t.severity); err != nil {
		return Decision{}, err
	}
	if d.Note, err = t.text(s, r, t.note); err != nil {
		return Decision{}, err
	}
	return d, nil
}

// text is output j of rule r as text: strings as they are, null and a missing
// column as "", other values in FEEL notation.
func (t *Table) text(s *scope, r *rule, j int) (string, error) {
	if j < 0 {
		return "", nil
	}
	v, err := t.outValue(s, r, j)
	switch {
	case err != nil:
		return "", err
	case v.k == kString:
		return v.s, nil
	case v.k == kNull:
		return "", nil
	}
	return v.String(), nil
}

// decideOutput is the JSON [DecideJSON] prints.
type decideOutput struct {
	Result
	Decision *Decision `json:"decision,omitempty"`
}

// DecideJSON evaluates t for the JSON object input, whose fields are those of
// [Input] (reason, messageName, correlationKey, source, ageSeconds,
// instanceState, payload), and returns the [Result] as indented JSON, with
// the [Decision] under "decision" when the table has an action output. It is
// the body of `tracker decide TABLE --input JSON`. Unknown fields and
// evaluation errors are errors.
func DecideJSON(t *Table, input []byte) ([]byte, error) {
	var in Input
	dec := json.NewDecoder(bytes.NewReader(input))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return nil, fmt.Errorf("read decision input: %w (expected a JSON object with reason, messageName, correlationKey, source, ageSeconds, instanceState, payload)", err)
	}
	if dec.More() {
		return nil, errors.New("read decision input: more than one JSON value; pass a single object")
	}
	s := &scope{in: in, hasIn: true}
	res, err := t.evaluate(s)
	if err != nil {
		return nil, err
	}
	out := decideOutput{Result: res}
	if t.action >= 0 && t.agg == aggNone {
		d, err := t.decide(s)
		if err != nil {
			return nil, err
		}
		out.Decision = &d
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode decision result: %w", err)
	}
	return append(b, '\n'), nil
}
