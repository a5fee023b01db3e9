package decisiontable

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// The YAML form (docs/DECISIONS.md):
//
//	id: uncorrelated-events
//	name: What to do with an uncorrelated event
//	hitPolicy: FIRST
//	inputs:
//	  - {expression: reason, label: Reason, type: string}
//	outputs:
//	  - {name: action, type: string, values: [ignore, incident, buffer, dead-letter]}
//	rules:
//	  - id: Rule_Noise
//	    annotation: Not part of any tracked process
//	    when: {messageName: [Heartbeat, PriceUpdated]}
//	    then: {action: ignore}
//
// "when" maps input ids (by default the input expression) to unary tests:
// FEEL text, or a YAML list of plain values. "then" maps output names to plain
// values; a string starting with "=" is a FEEL expression.

var (
	tableKeys  = []string{"id", "name", "hitPolicy", "aggregation", "inputs", "outputs", "rules"}
	inputKeys  = []string{"id", "label", "expression", "type", "values"}
	outputKeys = []string{"id", "name", "label", "type", "values"}
	ruleKeys   = []string{"id", "annotation", "when", "then"}
)

// yamlReader turns a YAML document into a rawTable, collecting problems.
type yamlReader struct {
	ps *problems
}

func parseYAML(data []byte, ps *problems) *rawTable {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		ps.add(yamlErrLine(err), "", "the file is not valid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		ps.add(0, "", "the file is empty: expected a decision table with inputs, outputs and rules")
		return nil
	}
	y := yamlReader{ps: ps}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		ps.add(root.Line, "", "expected a decision table (a mapping with id, hitPolicy, inputs, outputs, rules)")
		return nil
	}
	raw := &rawTable{line: root.Line, yaml: true}
	y.fields(root, "", "table", tableKeys, func(key string, v *yaml.Node) {
		switch key {
		case "id":
			raw.id = y.str(v, "", key)
		case "name":
			raw.name = y.str(v, "", key)
		case "hitPolicy":
			raw.hitPolicy = y.str(v, "", key)
			raw.line = v.Line
		case "aggregation":
			raw.aggregation = y.str(v, "", key)
		case "inputs":
			for i, n := range y.seq(v, "", key) {
				raw.inputs = append(raw.inputs, y.input(i, n))
			}
		case "outputs":
			for i, n := range y.seq(v, "", key) {
				raw.outputs = append(raw.outputs, y.output(i, n))
			}
		case "rules":
			for i, n := range y.seq(v, "", key) {
				raw.rules = append(raw.rules, y.rule(i, n, raw))
			}
		}
	})
	if raw.id == "" {
		ps.add(root.Line, "", "the table has no id; add e.g. id: uncorrelated-events")
	}
	return raw
}

// yamlErrLine digs the line number out of a yaml.v3 error ("yaml: line 3: ...").
func yamlErrLine(err error) int {
	msg := err.Error()
	if i := strings.Index(msg, "line "); i >= 0 {
		rest := msg[i+5:]
		if j := strings.IndexByte(rest, ':'); j > 0 {
			if n, err := strconv.Atoi(rest[:j]); err == nil {
				return n
			}
		}
	}
	return 0
}

// fields walks a mapping, reporting keys outside allowed.
func (y yamlReader) fields(n *yaml.Node, elem, what string, allowed []string, f func(key string, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		y.ps.add(n.Line, elem, "%s must be a mapping of keys (%s)", what, strings.Join(allowed, ", "))
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !slices.Contains(allowed, k.Value) {
			y.ps.add(k.Line, elem, "unknown key %q in %s; allowed keys are %s", k.Value, what, strings.Join(allowed, ", "))
			continue
		}
		f(k.Value, v)
	}
}

func (y yamlReader) mapping(n *yaml.Node, elem, key, what string) {
	if n.Kind != yaml.MappingNode {
		y.ps.add(n.Line, elem, "%s must be a mapping of %s", key, what)
	}
}

func (y yamlReader) str(n *yaml.Node, elem, key string) string {
	if n.Kind != yaml.ScalarNode {
		y.ps.add(n.Line, elem, "%s must be text", key)
		return ""
	}
	return n.Value
}

func (y yamlReader) seq(n *yaml.Node, elem, key string) []*yaml.Node {
	if n.Kind != yaml.SequenceNode {
		y.ps.add(n.Line, elem, "%s must be a list", key)
		return nil
	}
	return n.Content
}

func (y yamlReader) input(i int, n *yaml.Node) rawColumn {
	c := rawColumn{line: n.Line}
	elem := fmt.Sprintf("inputs[%d]", i)
	y.fields(n, elem, "an input", inputKeys, func(key string, v *yaml.Node) {
		switch key {
		case "id":
			c.id = y.str(v, elem, key)
		case "label":
			c.label = y.str(v, elem, key)
		case "expression":
			c.expr = y.str(v, elem, key)
		case "type":
			c.typeRef = y.str(v, elem, key)
		case "values":
			c.values = y.tests(v, elem, key)
		}
	})
	if c.id == "" {
		c.id = strings.TrimSpace(c.expr)
	}
	return c
}

func (y yamlReader) output(i int, n *yaml.Node) rawColumn {
	c := rawColumn{line: n.Line}
	elem := fmt.Sprintf("outputs[%d]", i)
	y.fields(n, elem, "an output", outputKeys, func(key string, v *yaml.Node) {
		switch key {
		case "id":
			c.id = y.str(v, elem, key)
		case "name":
			c.name = y.str(v, elem, key)
		case "label":
			c.label = y.str(v, elem, key)
		case "type":
			c.typeRef = y.str(v, elem, key)
		case "values":
			c.values = y.tests(v, elem, key)
		}
	})
	if c.id == "" {
		c.id = strings.TrimSpace(c.name)
	}
	return c
}

func (y yamlReader) rule(i int, n *yaml.Node, raw *rawTable) rawRule {
	r := rawRule{line: n.Line}
	if n.Kind == yaml.MappingNode {
		for k := 0; k+1 < len(n.Content); k += 2 {
			if n.Content[k].Value == "id" {
				r.id = n.Content[k+1].Value
			}
		}
	}
	elem := r.id
	if elem == "" {
		elem = fmt.Sprintf("rule %d", i+1)
	}
	// Entries default to "-" (inputs) and null (outputs), in column order.
	r.inputs = make([]rawEntry, len(raw.inputs))
	for j := range r.inputs {
		r.inputs[j] = rawEntry{text: "-", line: n.Line}
	}
	r.outputs = make([]rawEntry, len(raw.outputs))
	for j := range r.outputs {
		r.outputs[j] = rawEntry{line: n.Line}
	}
	y.fields(n, elem, "a rule", ruleKeys, func(key string, v *yaml.Node) {
		switch key {
		case "annotation":
			r.annotation = y.str(v, elem, key)
		case "when":
			y.mapping(v, elem, "when", "input ids to tests, e.g. reason: [NO_INSTANCE]")
			for k := 0; v.Kind == yaml.MappingNode && k+1 < len(v.Content); k += 2 {
				kn, vn := v.Content[k], v.Content[k+1]
				j := slices.IndexFunc(raw.inputs, func(c rawColumn) bool { return c.id == kn.Value })
				if j < 0 {
					y.ps.add(kn.Line, elem, "when: there is no input %q; inputs are %s", kn.Value, columnIDs(raw.inputs))
					continue
				}
				r.inputs[j] = rawEntry{text: y.tests(vn, elem, "when."+kn.Value), line: vn.Line}
			}
		case "then":
			y.mapping(v, elem, "then", "output names to values, e.g. action: ignore")
			for k := 0; v.Kind == yaml.MappingNode && k+1 < len(v.Content); k += 2 {
				kn, vn := v.Content[k], v.Content[k+1]
				j := slices.IndexFunc(raw.outputs, func(c rawColumn) bool { return c.name == kn.Value })
				if j < 0 {
					y.ps.add(kn.Line, elem, "then: there is no output %q; outputs are %s", kn.Value, columnNames(raw.outputs))
					continue
				}
				r.outputs[j] = rawEntry{text: y.expr(vn, elem, "then."+kn.Value), line: vn.Line}
			}
		}
	})
	return r
}

func columnIDs(cs []rawColumn) string {
	ids := make([]string, 0, len(cs))
	for _, c := range cs {
		if c.id != "" {
			ids = append(ids, c.id)
		}
	}
	return strings.Join(ids, ", ")
}

func columnNames(cs []rawColumn) string {
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.name
	}
	return strings.Join(ids, ", ")
}

// tests converts a YAML unary test to FEEL text: a string is FEEL already, a
// list is a list of plain values, another scalar is that value.
func (y yamlReader) tests(n *yaml.Node, elem, key string) string {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!str" {
			return n.Value
		}
		return y.literal(n, elem, key)
	case yaml.SequenceNode:
		parts := make([]string, 0, len(n.Content))
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				y.ps.add(c.Line, elem, "%s: list entries must be plain values", key)
				continue
			}
			parts = append(parts, y.literal(c, elem, key))
		}
		if len(parts) == 0 {
			y.ps.add(n.Line, elem, "%s: the list is empty; use - to match anything", key)
			return "-"
		}
		return strings.Join(parts, ",")
	case yaml.AliasNode:
		y.ps.add(n.Line, elem, "%s: YAML aliases are not supported", key)
		return "-"
	}
	y.ps.add(n.Line, elem, "%s must be a unary test (text such as \"< 10\") or a list of values", key)
	return "-"
}

// expr converts a YAML output value to FEEL text: plain values are literals,
// a string starting with "=" is a FEEL expression.
func (y yamlReader) expr(n *yaml.Node, elem, key string) string {
	if n.Kind != yaml.ScalarNode {
		y.ps.add(n.Line, elem, "%s must be a plain value, or a FEEL expression after =", key)
		return ""
	}
	if n.Tag == "!!str" && strings.HasPrefix(n.Value, "=") {
		return n.Value[1:]
	}
	return y.literal(n, elem, key)
}

// literal writes a YAML scalar as a FEEL literal.
func (y yamlReader) literal(n *yaml.Node, elem, key string) string {
	switch n.Tag {
	case "!!null":
		return "null"
	case "!!bool":
		b, err := strconv.ParseBool(strings.ToLower(n.Value))
		if err != nil {
			y.ps.add(n.Line, elem, "%s: %q is not a boolean", key, n.Value)
		}
		return strconv.FormatBool(b)
	case "!!int", "!!float":
		f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
		if err != nil {
			var i int64
			if err := n.Decode(&i); err != nil {
				y.ps.add(n.Line, elem, "%s: %q is not a number", key, n.Value)
				return "null"
			}
			f = float64(i)
		}
		return strconv.FormatFloat(f, 'f', -1, 64)
	case "!!timestamp":
		var t time.Time
		if err := n.Decode(&t); err != nil {
			y.ps.add(n.Line, elem, "%s: %q is not a date", key, n.Value)
			return "null"
		}
		if len(n.Value) == len(time.DateOnly) {
			return `date("` + n.Value + `")`
		}
		return `date and time("` + t.Format(time.RFC3339Nano) + `")`
	}
	return feelQuote(n.Value)
}

// feelQuote writes s as a FEEL string literal.
func feelQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
