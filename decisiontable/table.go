package decisiontable

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tracker-dev/tracker/feel"
)

// Actions a table for uncorrelated events may decide on (DESIGN.md §5).
const (
	ActionIgnore     = "ignore"
	ActionIncident   = "incident"
	ActionBuffer     = "buffer"
	ActionDeadLetter = "dead-letter"
)

var actions = []string{ActionIgnore, ActionIncident, ActionBuffer, ActionDeadLetter}

// Output names [Table.Decide] reads.
const (
	outAction   = "action"
	outSeverity = "severity"
	outNote     = "note"
)

// hitPolicy is a DMN hit policy.
type hitPolicy uint8

const (
	hitUnique hitPolicy = iota
	hitFirst
	hitPriority
	hitAny
	hitCollect
	hitRuleOrder
	hitOutputOrder
)

var hitNames = [...]string{"UNIQUE", "FIRST", "PRIORITY", "ANY", "COLLECT", "RULE ORDER", "OUTPUT ORDER"}

func (h hitPolicy) String() string { return hitNames[h] }

// aggregation is the COLLECT aggregator.
type aggregation uint8

const (
	aggNone aggregation = iota
	aggSum
	aggMin
	aggMax
	aggCount
)

var aggNames = [...]string{"", "SUM", "MIN", "MAX", "COUNT"}

func parseHitPolicy(s string) (hitPolicy, aggregation, bool) {
	n := strings.ToUpper(strings.TrimSpace(s))
	n = strings.NewReplacer("_", " ", "-", " ").Replace(n)
	switch n {
	case "", "UNIQUE", "U":
		return hitUnique, aggNone, true
	case "FIRST", "F":
		return hitFirst, aggNone, true
	case "PRIORITY", "P":
		return hitPriority, aggNone, true
	case "ANY", "A":
		return hitAny, aggNone, true
	case "COLLECT", "C":
		return hitCollect, aggNone, true
	case "C+":
		return hitCollect, aggSum, true
	case "C<":
		return hitCollect, aggMin, true
	case "C>":
		return hitCollect, aggMax, true
	case "C#":
		return hitCollect, aggCount, true
	case "RULE ORDER", "R":
		return hitRuleOrder, aggNone, true
	case "OUTPUT ORDER", "O":
		return hitOutputOrder, aggNone, true
	}
	return 0, 0, false
}

func parseAggregation(s string) (aggregation, bool) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "":
		return aggNone, true
	case "SUM":
		return aggSum, true
	case "MIN":
		return aggMin, true
	case "MAX":
		return aggMax, true
	case "COUNT":
		return aggCount, true
	}
	return 0, false
}

// Table is a validated decision table, ready to evaluate. It is immutable and
// safe for concurrent use.
type Table struct {
	file    string
	id      string
	name    string
	hit     hitPolicy
	agg     aggregation
	inputs  []inputCol
	outputs []outputCol
	rules   []rule
	// column indexes of the outputs Decide reads, -1 when absent
	action, severity, note int
}

// ID returns the decision's id (DMN decision id, YAML id).
func (t *Table) ID() string { return t.id }

// Name returns the decision's display name.
func (t *Table) Name() string { return t.name }

// File returns the file name the table was read from.
func (t *Table) File() string { return t.file }

// HitPolicy returns the hit policy as DMN writes it ("FIRST", "RULE ORDER",
// "COLLECT SUM").
func (t *Table) HitPolicy() string {
	if t.agg != aggNone {
		return t.hit.String() + " " + aggNames[t.agg]
	}
	return t.hit.String()
}

// RuleIDs returns the rule ids in table order.
func (t *Table) RuleIDs() []string {
	ids := make([]string, len(t.rules))
	for i, r := range t.rules {
		ids[i] = r.id
	}
	return ids
}

type inputCol struct {
	id, label string
	expr      string
	path      []string         // the input expression as a name path, looked up directly
	feel      *feel.Expression // the input expression when it is more than a path
	typ       kind
	allowed   *unaryTest // input values, nil when not given
}

// title names the column for messages: its label, else its expression.
func (c *inputCol) title() string {
	if c.label != "" {
		return fmt.Sprintf("%q (%s)", c.label, c.expr)
	}
	return c.expr
}

type outputCol struct {
	id, name, label string
	typ             kind
	order           []value    // output values, in priority order
	allowed         *unaryTest // output values as a test, nil when not given
}

type rule struct {
	id, annotation string
	line           int
	tests          []unaryTest
	outs           []outEntry
}

// outEntry is an output entry: a literal, or a path resolved at evaluation.
type outEntry struct {
	lit   value
	boxed any              // lit as a result value, boxed once at load
	path  []string         // non-nil for a name or path
	feel  *feel.Expression // non-nil for another FEEL expression
	text  string
}

// rawTable is a decision table as read from DMN or YAML, before checks.
// Both forms produce it; compile turns it into a Table.
type rawTable struct {
	id, name    string
	line        int
	hitPolicy   string
	aggregation string
	inputs      []rawColumn
	outputs     []rawColumn
	rules       []rawRule
	yaml        bool // read from the YAML form: hints name its notation
}

type rawColumn struct {
	id, label, name string
	expr            string // inputs only
	typeRef         string
	values          string // allowed values as FEEL unary tests; "" when not given
	line            int
}

type rawRule struct {
	id, annotation string
	line           int
	inputs         []rawEntry
	outputs        []rawEntry
}

type rawEntry struct {
	id   string // DMN entry id; "" in YAML
	text string
	line int
	lang string // expressionLanguage attribute, "" for FEEL
}

// compile checks a raw table and builds the evaluable Table, collecting every
// problem rather than stopping at the first.
func compile(raw *rawTable, ps *problems) *Table {
	t := &Table{file: ps.file, id: raw.id, name: raw.name, action: -1, severity: -1, note: -1}
	tableElem := raw.id
	if tableElem == "" {
		tableElem = "decision"
	}
	var ok bool
	t.hit, t.agg, ok = parseHitPolicy(raw.hitPolicy)
	if !ok {
		ps.add(raw.line, tableElem, "hit policy %q is not supported; use UNIQUE, FIRST, PRIORITY, ANY, COLLECT, RULE ORDER or OUTPUT ORDER", raw.hitPolicy)
	}
	if raw.aggregation != "" {
		agg, ok := parseAggregation(raw.aggregation)
		switch {
		case !ok:
			ps.add(raw.line, tableElem, "aggregation %q is not supported; use SUM, MIN, MAX or COUNT", raw.aggregation)
		case t.hit != hitCollect:
			ps.add(raw.line, tableElem, "aggregation %s needs hit policy COLLECT, not %s", aggNames[agg], t.hit)
		default:
			t.agg = agg
		}
	}

	for i, rc := range raw.inputs {
		t.inputs = append(t.inputs, compileInput(i, rc, ps))
	}
	if len(raw.outputs) == 0 {
		ps.add(raw.line, tableElem, "the table has no output column; add one (for uncorrelated events: action, severity, note)")
	}
	seen := map[string]bool{}
	for i, rc := range raw.outputs {
		oc := compileOutput(i, rc, ps)
		if oc.name != "" {
			if seen[oc.name] {
				ps.add(rc.line, oc.id, "two output columns are named %q; output names must be unique", oc.name)
			}
			seen[oc.name] = true
		}
		switch oc.name {
		case outAction:
			t.action = i
		case outSeverity:
			t.severity = i
		case outNote:
			t.note = i
		}
		t.outputs = append(t.outputs, oc)
	}
	if t.agg != aggNone && len(t.outputs) > 1 {
		ps.add(raw.line, tableElem, "COLLECT %s works on one output column, but the table has %d; remove the others or use plain COLLECT", aggNames[t.agg], len(t.outputs))
	}
	if t.agg == aggSum && len(t.outputs) == 1 && t.outputs[0].typ != kNull && t.outputs[0].typ != kNumber {
		ps.add(raw.line, tableElem, "COLLECT SUM adds numbers, but output %q is a %s", t.outputs[0].name, typeName(t.outputs[0].typ))
	}
	if t.hit == hitPriority || t.hit == hitOutputOrder {
		if !slices.ContainsFunc(t.outputs, func(o outputCol) bool { return len(o.order) > 0 }) {
			ps.add(raw.line, tableElem, "hit policy %s ranks rules by the output values, but no output column lists its values; add them (e.g. \"high\",\"medium\",\"low\")", t.hit)
		}
	}

	ids := map[string]int{}
	for i, rr := range raw.rules {
		r := rule{id: rr.id, annotation: strings.TrimSpace(rr.annotation), line: rr.line}
		elem := rr.id
		if elem == "" {
			elem = fmt.Sprintf("rule %d", i+1)
			ps.add(rr.line, elem, "rule %d has no id; give every rule an id so decisions can name it", i+1)
		} else if prev, dup := ids[rr.id]; dup {
			ps.add(rr.line, elem, "rule id %q is used by rules %d and %d; rule ids must be unique", rr.id, prev+1, i+1)
		} else {
			ids[rr.id] = i
		}
		if len(rr.inputs) != len(t.inputs) {
			ps.add(rr.line, elem, "rule has %d input entries but the table has %d input columns", len(rr.inputs), len(t.inputs))
		}
		if len(rr.outputs) != len(t.outputs) {
			ps.add(rr.line, elem, "rule has %d output entries but the table has %d output columns", len(rr.outputs), len(t.outputs))
		}
		for j, e := range rr.inputs {
			if j >= len(t.inputs) {
				break
			}
			r.tests = append(r.tests, compileTest(elem, &t.inputs[j], e, raw.yaml, ps))
		}
		for j, e := range rr.outputs {
			if j >= len(t.outputs) {
				break
			}
			r.outs = append(r.outs, compileOutEntry(elem, &t.outputs[j], e, ps))
		}
		t.rules = append(t.rules, r)
	}
	return t
}

func compileInput(i int, rc rawColumn, ps *problems) inputCol {
	c := inputCol{id: rc.id, label: rc.label, expr: strings.TrimSpace(rc.expr)}
	elem := rc.id
	if elem == "" {
		elem = fmt.Sprintf("input %d", i+1)
	}
	if c.id == "" {
		c.id = elem
	}
	typ, err := parseTypeRef(rc.typeRef)
	if err != nil {
		ps.add(rc.line, elem, "input %s: %v", c.title(), err)
	}
	c.typ = typ
	if c.expr == "" {
		ps.add(rc.line, elem, "input %d has no input expression; name the value to test, e.g. reason or payload.amount", i+1)
	} else if path, err := parsePath(c.expr); err == nil {
		c.path = path
	} else if e, err := feel.Compile(c.expr); err != nil {
		ps.add(rc.line, elem, "input expression %q: %v", c.expr, feelMessage(err))
	} else if path, ok := e.Path(); ok {
		c.path = path
	} else {
		c.feel = e
	}
	if strings.TrimSpace(rc.values) != "" {
		u, err := parseUnaryTests(rc.values)
		if err != nil {
			ps.add(rc.line, elem, "allowed values of input %s: %v", c.title(), err)
		} else {
			c.allowed = &u
		}
	}
	return c
}

func compileOutput(i int, rc rawColumn, ps *problems) outputCol {
	c := outputCol{id: rc.id, name: strings.TrimSpace(rc.name), label: rc.label}
	elem := rc.id
	if elem == "" {
		elem = fmt.Sprintf("output %d", i+1)
	}
	if c.id == "" {
		c.id = elem
	}
	if c.name == "" {
		ps.add(rc.line, elem, "output %d has no name; results are keyed by it (for uncorrelated events: action, severity, note)", i+1)
	}
	typ, err := parseTypeRef(rc.typeRef)
	if err != nil {
		ps.add(rc.line, elem, "output %q: %v", c.name, err)
	}
	c.typ = typ
	if strings.TrimSpace(rc.values) != "" {
		u, err := parseUnaryTests(rc.values)
		switch {
		case err != nil:
			ps.add(rc.line, elem, "output values of %q: %v", c.name, err)
		case u.not || slices.ContainsFunc(u.tests, func(p positive) bool { return p.op != opEq }):
			ps.add(rc.line, elem, "output values of %q must be a list of values such as \"high\",\"medium\",\"low\"", c.name)
		default:
			c.allowed = &u
			for _, p := range u.tests {
				c.order = append(c.order, p.lo)
				if !fits(p.lo.k, c.typ) {
					ps.add(rc.line, elem, "output value %s is a %s but output %q is a %s", p.lo, p.lo.k, c.name, typeName(c.typ))
				}
			}
		}
	}
	if c.name == outAction {
		for _, v := range c.order {
			if v.k != kString || !slices.Contains(actions, v.s) {
				ps.add(rc.line, elem, "output value %s is not an action; actions are %s", v, strings.Join(actions, ", "))
			}
		}
	}
	return c
}

func entryElem(ruleElem string, e rawEntry) string {
	if e.id != "" {
		return e.id
	}
	return ruleElem
}

func checkLang(ruleElem string, e rawEntry, ps *problems) bool {
	if e.lang == "" || isFEEL(e.lang) {
		return true
	}
	ps.add(e.line, entryElem(ruleElem, e), "rule %s: expression language %q is not supported; use FEEL", ruleElem, e.lang)
	return false
}

func isFEEL(lang string) bool {
	l := strings.ToLower(lang)
	return l == "feel" || strings.Contains(l, "/feel") || strings.Contains(l, "feel/")
}

func compileTest(ruleElem string, c *inputCol, e rawEntry, yamlForm bool, ps *problems) unaryTest {
	elem := entryElem(ruleElem, e)
	if !checkLang(ruleElem, e, ps) {
		return unaryTest{any: true}
	}
	u, err := parseUnaryTests(e.text)
	if err != nil {
		text := strings.TrimSpace(e.text)
		if yamlForm {
			if _, perr := parsePath(text); perr == nil {
				err = fmt.Errorf("%w, or in YAML the list form [%s]", err, text)
			}
		}
		ps.add(e.line, elem, "rule %s, input %s: %q: %v", ruleElem, c.title(), text, err)
		return unaryTest{any: true}
	}
	for _, v := range u.literals() {
		if !fits(v.k, c.typ) {
			ps.add(e.line, elem, "rule %s, input %s: %s is a %s but the column is a %s%s", ruleElem, c.title(), v, v.k, typeName(c.typ), hint(v, c.typ))
		}
	}
	if c.allowed != nil {
		for _, p := range u.tests {
			if p.op == opEq && p.lo.k != kNull && !c.allowed.match(&p.lo) {
				ps.add(e.line, elem, "rule %s, input %s: %s is not one of the input's allowed values", ruleElem, c.title(), p.lo)
			}
		}
	}
	return u
}

// hint suggests the literal the analyst probably meant.
func hint(v value, want kind) string {
	if v.k != kString {
		return ""
	}
	switch want {
	case kDate:
		return fmt.Sprintf("; write date(%q)", v.s)
	case kDateTime:
		return fmt.Sprintf("; write date and time(%q)", v.s)
	case kTime:
		return fmt.Sprintf("; write time(%q)", v.s)
	case kDuration:
		return fmt.Sprintf("; write duration(%q)", v.s)
	case kNumber:
		return fmt.Sprintf("; write %s without quotes", v.s)
	}
	return ""
}

func compileOutEntry(ruleElem string, c *outputCol, e rawEntry, ps *problems) outEntry {
	elem := entryElem(ruleElem, e)
	oe := outEntry{text: strings.TrimSpace(e.text)}
	if !checkLang(ruleElem, e, ps) {
		return oe
	}
	v, path, err := parseOutputEntry(oe.text)
	if err != nil {
		// Not a literal or a name: maybe a FEEL expression (payload.amount * 2).
		x, ferr := feel.Compile(oe.text)
		if ferr != nil {
			if toks, lerr := lex(oe.text); lerr == nil && toks[0].kind == tName && !isKeyword(toks[0].text) {
				err = errors.New(feelMessage(ferr)) // an expression that went wrong
			}
			ps.add(e.line, elem, "rule %s, output %q: %q: %v", ruleElem, c.name, oe.text, err)
			return oe
		}
		cv, isConst := x.Constant()
		if !isConst {
			oe.feel = x
			return oe
		}
		v = fromAny(cv)
		if v.k == kOther {
			ps.add(e.line, elem, "rule %s, output %q: %q: lists and contexts are not supported as outputs", ruleElem, c.name, oe.text)
			return oe
		}
	}
	if path != nil {
		if len(path) == 1 && (c.name == outAction && slices.Contains(actions, path[0]) || c.allowed != nil && c.allowed.match(&value{k: kString, s: path[0]})) {
			ps.add(e.line, elem, "rule %s, output %q: %s is read as the name of an input value; write %q for the text", ruleElem, c.name, path[0], path[0])
		}
		oe.path = path
		return oe
	}
	oe.lit, oe.boxed = v, v.toAny()
	if !fits(v.k, c.typ) {
		ps.add(e.line, elem, "rule %s, output %q: %s is a %s but the column is a %s%s", ruleElem, c.name, v, v.k, typeName(c.typ), hint(v, c.typ))
		return oe
	}
	if c.name == outAction && v.k == kNull {
		ps.add(e.line, elem, "rule %s: the action is empty; write one of %s", ruleElem, strings.Join(actions, ", "))
	} else if c.name == outAction && (v.k != kString || !slices.Contains(actions, v.s)) {
		ps.add(e.line, elem, "rule %s: action %s is not one of %s", ruleElem, v, strings.Join(actions, ", "))
	} else if c.allowed != nil && v.k != kNull && !c.allowed.match(&v) {
		ps.add(e.line, elem, "rule %s, output %q: %s is not one of the output values", ruleElem, c.name, v)
	}
	return oe
}

// parseOutputEntry parses an output entry: empty (null), a literal, or a
// name path resolved at evaluation time.
func parseOutputEntry(src string) (value, []string, error) {
	if src == "" {
		return value{}, nil, nil
	}
	toks, err := lex(src)
	if err != nil {
		return value{}, nil, err
	}
	if toks[0].kind == tName && !isKeyword(toks[0].text) && (len(toks) < 2 || toks[1].kind != tLParen) {
		if path, err := parsePath(src); err == nil {
			return value{}, path, nil
		}
	}
	p := &parser{toks: toks}
	v, err := p.literal()
	if err != nil {
		return value{}, nil, fmt.Errorf("%w; an output is a value (\"text\", 12, true, date(\"2026-01-31\"), duration(\"P1D\")) or a name such as payload.amount", err)
	}
	if t := p.peek(); t.kind != tEOF {
		return value{}, nil, fmt.Errorf("unexpected %s after %s; an output is a single value or name", t.describe(), v)
	}
	return v, nil, nil
}

// feelMessage strips the feel package's "compile "src": " prefix, as our
// messages quote the source already.
func feelMessage(err error) string {
	msg := err.Error()
	if strings.HasPrefix(msg, "compile ") {
		if i := strings.Index(msg, `": `); i >= 0 {
			return msg[i+3:]
		}
	}
	return msg
}

func isKeyword(s string) bool {
	switch s {
	case "true", "false", "null", "not", "date", "time", "duration":
		return true
	}
	return false
}

// parsePath reads a name or dotted path ("reason", "payload.amount").
func parsePath(src string) ([]string, error) {
	toks, err := lex(strings.TrimSpace(src))
	if err != nil {
		return nil, err
	}
	var path []string
	for i := 0; ; i += 2 {
		if toks[i].kind != tName || isKeyword(toks[i].text) {
			return nil, fmt.Errorf("only names and dotted paths are supported here (e.g. reason, payload.amount)")
		}
		path = append(path, toks[i].text)
		switch toks[i+1].kind {
		case tEOF:
			return path, nil
		case tDot:
		default:
			return nil, fmt.Errorf("only names and dotted paths are supported here (e.g. reason, payload.amount)")
		}
	}
}
