package decisiontable

import (
	"fmt"
	"strings"

	"github.com/tracker-dev/tracker/feel"
)

// Result is the outcome of evaluating a table: the rules that make up the
// result, in result order, and one output map (output name → value) per rule.
//
// With COLLECT and an aggregation (SUM, MIN, MAX, COUNT) RuleIDs lists every
// matched rule in table order and Outputs holds a single map with the
// aggregate; SUM, MIN and MAX over no matched rule give no output, COUNT
// gives 0. Output values are string, float64, bool, nil, a "2006-01-02"
// string for dates, time.Time for date-times and iso8601.Duration.
type Result struct {
	RuleIDs []string `json:"ruleIds"`
	// Annotations holds the rules' annotations, parallel to RuleIDs; it is
	// nil when no matched rule has one.
	Annotations []string         `json:"annotations,omitempty"`
	Outputs     []map[string]any `json:"outputs"`
}

// EvalError is an evaluation that has no valid result: a UNIQUE table with
// several matching rules, ANY rules that disagree, an input of the wrong
// type, an action that is not one of the four. For uncorrelated events it
// becomes an incident of its own.
type EvalError struct {
	Table   string // table id
	Element string // rule or input column id the error is about; "" for the table
	Message string
}

// Error formats the error as "decision table ID: element: message".
func (e *EvalError) Error() string {
	var b strings.Builder
	b.WriteString("decision table ")
	b.WriteString(e.Table)
	b.WriteString(": ")
	if e.Element != "" {
		b.WriteString(e.Element)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

func (t *Table) evalErr(elem, format string, args ...any) error {
	return &EvalError{Table: t.id, Element: elem, Message: fmt.Sprintf(format, args...)}
}

// scope is where input expressions and output names are looked up: an
// evaluation context map or, without building a map, an [Input].
type scope struct {
	m     map[string]any
	in    Input // a copy, so that escape analysis keeps the caller's Input on the stack
	hasIn bool
}

// context returns the evaluation context as a map, for FEEL expressions;
// for an Input it is built once per evaluation.
func (s *scope) context() map[string]any {
	if s.m == nil && s.hasIn {
		s.m = s.in.context()
	}
	return s.m
}

// eval evaluates a FEEL input or output expression.
func (s *scope) eval(e *feel.Expression) (value, any, error) {
	x, err := e.Eval(s.context())
	if err != nil {
		return value{}, nil, err
	}
	return fromAny(x), x, nil
}

func (s *scope) lookup(path []string) value {
	if s.hasIn {
		return s.in.lookup(path)
	}
	return lookupMap(s.m, path)
}

// lookupAny is lookup for results: it keeps lists and contexts as they are.
func (s *scope) lookupAny(path []string) any {
	if s.hasIn {
		if path[0] == "payload" {
			return lookupMapAny(s.in.Payload, path[1:])
		}
		return s.in.lookup(path).toAny()
	}
	return lookupMapAny(s.m, path)
}

func lookupMap(m map[string]any, path []string) value {
	if m == nil {
		return value{}
	}
	cur := any(m)
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return value{}
		}
		if cur, ok = mm[p]; !ok {
			return value{}
		}
	}
	return fromAny(cur)
}

func lookupMapAny(m map[string]any, path []string) any {
	if m == nil {
		return nil
	}
	cur := any(m)
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[p]
	}
	return cur
}

// Evaluate evaluates the table against ctx (values of encoding/json's shapes;
// input expressions are names and dotted paths into it). An evaluation that
// the hit policy does not allow returns an [*EvalError].
func (t *Table) Evaluate(ctx map[string]any) (Result, error) {
	return t.evaluate(&scope{m: ctx})
}

func (t *Table) evaluate(s *scope) (Result, error) {
	var vbuf [8]value
	var hbuf [16]int
	hits, err := t.selectRules(s, vbuf[:0], hbuf[:0])
	if err != nil {
		return Result{}, err
	}
	res := Result{RuleIDs: make([]string, 0, len(hits)), Outputs: []map[string]any{}}
	for _, i := range hits {
		r := &t.rules[i]
		res.RuleIDs = append(res.RuleIDs, r.id)
		if r.annotation != "" && res.Annotations == nil {
			res.Annotations = make([]string, len(hits))
		}
	}
	if res.Annotations != nil {
		for k, i := range hits {
			res.Annotations[k] = t.rules[i].annotation
		}
	}
	if t.agg != aggNone {
		out, err := t.aggregate(s, hits)
		if err != nil {
			return Result{}, err
		}
		if out != nil {
			res.Outputs = append(res.Outputs, out)
		}
		return res, nil
	}
	for _, i := range hits {
		r := &t.rules[i]
		m := make(map[string]any, len(t.outputs))
		for j := range t.outputs {
			v, err := t.outAny(s, r, j)
			if err != nil {
				return Result{}, err
			}
			m[t.outputs[j].name] = v
		}
		res.Outputs = append(res.Outputs, m)
	}
	return res, nil
}

// selectRules matches the rules and applies the hit policy: it returns the
// indexes of the rules that make up the result, in result order. vals and
// hits are scratch space; with enough capacity nothing is allocated.
func (t *Table) selectRules(s *scope, vals []value, hits []int) ([]int, error) {
	for i := range t.inputs {
		c := &t.inputs[i]
		v := value{}
		if c.feel != nil {
			var err error
			if v, _, err = s.eval(c.feel); err != nil {
				return nil, t.evalErr(c.id, "input %s: %v", c.title(), err)
			}
		} else {
			v = s.lookup(c.path)
		}
		v, err := conform(v, c.typ)
		if err != nil {
			return nil, t.evalErr(c.id, "input %s: %v", c.title(), err)
		}
		vals = append(vals, v)
	}
	for i := range t.rules {
		if t.rules[i].matches(vals) {
			hits = append(hits, i)
			if t.hit == hitFirst {
				break
			}
		}
	}
	if len(hits) < 2 {
		return hits, nil
	}
	switch t.hit {
	case hitUnique:
		return nil, t.evalErr(t.rules[hits[0]].id, "rules %s match, but hit policy UNIQUE allows only one rule to match; make the rules exclusive or choose another hit policy", t.ruleList(hits))
	case hitAny:
		first := &t.rules[hits[0]]
		for _, i := range hits[1:] {
			r := &t.rules[i]
			for j := range t.outputs {
				a, err := t.outValue(s, first, j)
				if err != nil {
					return nil, err
				}
				b, err := t.outValue(s, r, j)
				if err != nil {
					return nil, err
				}
				if !equal(&a, &b) {
					return nil, t.evalErr(first.id, "rules %s and %s both match but give different %s (%s and %s); hit policy ANY needs matching rules to agree", first.id, r.id, t.outputs[j].name, a, b)
				}
			}
		}
		return hits[:1], nil
	case hitPriority:
		best := 0
		for k := 1; k < len(hits); k++ {
			c, err := t.rankCompare(s, hits[k], hits[best])
			if err != nil {
				return nil, err
			}
			if c < 0 {
				best = k
			}
		}
		hits[0] = hits[best]
		return hits[:1], nil
	case hitOutputOrder:
		// Insertion sort: stable, allocation-free, and match lists are short.
		for k := 1; k < len(hits); k++ {
			for m := k; m > 0; m-- {
				c, err := t.rankCompare(s, hits[m], hits[m-1])
				if err != nil {
					return nil, err
				}
				if c >= 0 {
					break
				}
				hits[m], hits[m-1] = hits[m-1], hits[m]
			}
		}
	}
	return hits, nil
}

func (r *rule) matches(vals []value) bool {
	for j := range r.tests {
		if !r.tests[j].match(&vals[j]) {
			return false
		}
	}
	return true
}

func (t *Table) ruleList(hits []int) string {
	ids := make([]string, len(hits))
	for k, i := range hits {
		ids[k] = t.rules[i].id
	}
	return strings.Join(ids, ", ")
}

// rankCompare orders rules a and b by their outputs' positions in the output
// values lists, output columns left to right: negative when a ranks higher.
func (t *Table) rankCompare(s *scope, a, b int) (int, error) {
	for j := range t.outputs {
		c := &t.outputs[j]
		if len(c.order) == 0 {
			continue
		}
		va, err := t.outValue(s, &t.rules[a], j)
		if err != nil {
			return 0, err
		}
		vb, err := t.outValue(s, &t.rules[b], j)
		if err != nil {
			return 0, err
		}
		if d := c.rank(&va) - c.rank(&vb); d != 0 {
			return d, nil
		}
	}
	return 0, nil
}

// rank is the position of v in the output values; values not listed rank last.
func (c *outputCol) rank(v *value) int {
	for i := range c.order {
		if equal(v, &c.order[i]) {
			return i
		}
	}
	return len(c.order)
}

// outValue is output j of rule r, typed.
func (t *Table) outValue(s *scope, r *rule, j int) (value, error) {
	e := &r.outs[j]
	c := &t.outputs[j]
	var v value
	switch {
	case e.feel != nil:
		var err error
		if v, _, err = s.eval(e.feel); err != nil {
			return v, t.evalErr(r.id, "output %q (%s): %v", c.name, e.text, err)
		}
	case e.path != nil:
		v = s.lookup(e.path)
	default:
		return e.lit, nil
	}
	v, err := conform(v, c.typ)
	if err != nil {
		return v, t.evalErr(r.id, "output %q (%s): %v", c.name, e.text, err)
	}
	return v, nil
}

// outAny is output j of rule r as a result value.
func (t *Table) outAny(s *scope, r *rule, j int) (any, error) {
	e := &r.outs[j]
	if e.path == nil && e.feel == nil {
		return e.boxed, nil
	}
	v, err := t.outValue(s, r, j)
	if err != nil {
		return nil, err
	}
	if v.k == kOther {
		if e.feel != nil {
			_, x, err := s.eval(e.feel)
			return x, err
		}
		return s.lookupAny(e.path), nil
	}
	return v.toAny(), nil
}

// aggregate applies SUM, MIN, MAX or COUNT to the single output of the
// matched rules; null outputs are left out.
func (t *Table) aggregate(s *scope, hits []int) (map[string]any, error) {
	c := &t.outputs[0]
	var acc value
	n := 0
	for _, i := range hits {
		r := &t.rules[i]
		v, err := t.outValue(s, r, 0)
		if err != nil {
			return nil, err
		}
		if v.k == kNull {
			continue
		}
		n++
		switch t.agg {
		case aggSum:
			if v.k != kNumber {
				return nil, t.evalErr(r.id, "COLLECT SUM adds numbers, but output %q is %s", c.name, describe(v))
			}
			acc = numberValue(acc.n + v.n)
		case aggMin, aggMax:
			if acc.k == kNull {
				acc = v
				continue
			}
			cmp, ok := compare(&v, &acc)
			if !ok {
				return nil, t.evalErr(r.id, "COLLECT %s cannot compare %s with %s", aggNames[t.agg], v, acc)
			}
			if t.agg == aggMin && cmp < 0 || t.agg == aggMax && cmp > 0 {
				acc = v
			}
		}
	}
	if t.agg == aggCount {
		return map[string]any{c.name: float64(n)}, nil
	}
	if len(hits) == 0 {
		return nil, nil
	}
	return map[string]any{c.name: acc.toAny()}, nil
}
