package decisiontable

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// DMN model namespaces, DMN 1.1 to 1.5. Camunda Modeler writes 1.3.
var dmnNamespaces = map[string]string{
	"http://www.omg.org/spec/DMN/20151101/dmn.xsd": "1.1",
	"http://www.omg.org/spec/DMN/20180521/MODEL/":  "1.2",
	"https://www.omg.org/spec/DMN/20191111/MODEL/": "1.3",
	"https://www.omg.org/spec/DMN/20211108/MODEL/": "1.4",
	"https://www.omg.org/spec/DMN/20230324/MODEL/": "1.5",
}

// xnode is an XML element with the line it starts on.
type xnode struct {
	name     xml.Name
	attrs    []xml.Attr
	children []*xnode
	text     strings.Builder
	line     int
}

func (n *xnode) attr(local string) string {
	for _, a := range n.attrs {
		if a.Name.Local == local && (a.Name.Space == "" || a.Name.Space == n.name.Space) {
			return a.Value
		}
	}
	return ""
}

// child returns the first child element with the local name, or nil.
func (n *xnode) child(local string) *xnode {
	for _, c := range n.children {
		if c.name.Local == local {
			return c
		}
	}
	return nil
}

// childText returns the text of <local><text>…</text></local>, or of
// <local>…</local> when it has no text element (DMN 1.1 descriptions).
func (n *xnode) childText(local string) (string, int) {
	c := n.child(local)
	if c == nil {
		return "", 0
	}
	return c.textOf(), c.line
}

func (n *xnode) textOf() string {
	if t := n.child("text"); t != nil {
		return t.text.String()
	}
	return n.text.String()
}

// readXML builds the element tree, refusing DOCTYPE declarations (and with
// them entity definitions and external references).
func readXML(data []byte) (*xnode, *Problem) {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	d.CharsetReader = func(charset string, r io.Reader) (io.Reader, error) {
		switch strings.ToLower(charset) {
		case "utf-8", "utf8", "us-ascii", "ascii":
			return r, nil
		}
		return nil, fmt.Errorf("encoding %q is not supported; save the file as UTF-8", charset)
	}
	var root *xnode
	var stack []*xnode
	for {
		// The position before reading a token is where the token starts:
		// character data between tags is a token of its own.
		startLine, _ := d.InputPos()
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return nil, &Problem{Line: se.Line, Message: "the file is not well-formed XML: " + se.Msg}
			}
			line, _ := d.InputPos()
			return nil, &Problem{Line: line, Message: "the file cannot be read as XML: " + err.Error()}
		}
		switch t := tok.(type) {
		case xml.Directive:
			return nil, &Problem{Line: startLine, Message: "DOCTYPE and entity declarations are not allowed in DMN files; remove the <!DOCTYPE ...> part"}
		case xml.StartElement:
			line := startLine
			n := &xnode{name: t.Name, attrs: t.Attr, line: line}
			if len(stack) == 0 {
				if root != nil {
					return nil, &Problem{Line: line, Message: "the file has more than one root element"}
				}
				root = n
			} else {
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text.Write(t)
			}
		}
	}
	if root == nil {
		return nil, &Problem{Message: "the file is empty: expected a DMN <definitions> element"}
	}
	return root, nil
}

// parseDMN reads a DMN file's one decision table.
func parseDMN(data []byte, ps *problems) *rawTable {
	root, p := readXML(data)
	if p != nil {
		p.File = ps.file
		ps.list = append(ps.list, *p)
		return nil
	}
	if _, ok := dmnNamespaces[root.name.Space]; !ok || root.name.Local != "definitions" {
		ps.add(root.line, "", "not a DMN file: the root element is <%s> in namespace %q; expected <definitions> in a DMN 1.1 to 1.5 namespace such as https://www.omg.org/spec/DMN/20191111/MODEL/", root.name.Local, root.name.Space)
		return nil
	}
	ns := root.name.Space
	if lang := root.attr("expressionLanguage"); lang != "" && !isFEEL(lang) {
		ps.add(root.line, root.attr("id"), "expression language %q is not supported; use FEEL", lang)
	}
	var decisions []*xnode
	for _, c := range root.children {
		if c.name.Space == ns && c.name.Local == "decision" && c.child("decisionTable") != nil {
			decisions = append(decisions, c)
		}
	}
	switch len(decisions) {
	case 0:
		ps.add(root.line, root.attr("id"), "the file has no decision table; add a decision with a decision table")
		return nil
	case 1:
	default:
		ids := make([]string, len(decisions))
		for i, d := range decisions {
			ids[i] = d.attr("id")
		}
		ps.add(decisions[1].line, decisions[1].attr("id"), "the file has %d decision tables (%s); the tracker uses exactly one, so keep one per file", len(decisions), strings.Join(ids, ", "))
		return nil
	}
	dec := decisions[0]
	for _, c := range dec.children {
		if c.name.Local == "informationRequirement" && c.child("requiredDecision") != nil {
			ps.add(c.line, dec.attr("id"), "decision %s requires another decision; decision requirement graphs are not supported, the table must stand alone", dec.attr("id"))
		}
	}
	dt := dec.child("decisionTable")
	raw := &rawTable{
		id:          dec.attr("id"),
		name:        dec.attr("name"),
		line:        dt.line,
		hitPolicy:   dt.attr("hitPolicy"),
		aggregation: dt.attr("aggregation"),
	}
	for _, c := range dt.children {
		if c.name.Space != ns {
			continue
		}
		switch c.name.Local {
		case "input":
			col := rawColumn{id: c.attr("id"), label: c.attr("label"), line: c.line}
			if ie := c.child("inputExpression"); ie != nil {
				col.expr = ie.textOf()
				col.typeRef = ie.attr("typeRef")
				if lang := ie.attr("expressionLanguage"); lang != "" && !isFEEL(lang) {
					ps.add(ie.line, col.id, "input expression language %q is not supported; use FEEL", lang)
				}
			}
			col.values, _ = c.childText("inputValues")
			raw.inputs = append(raw.inputs, col)
		case "output":
			col := rawColumn{id: c.attr("id"), label: c.attr("label"), name: c.attr("name"), typeRef: c.attr("typeRef"), line: c.line}
			col.values, _ = c.childText("outputValues")
			raw.outputs = append(raw.outputs, col)
		case "rule":
			raw.rules = append(raw.rules, dmnRule(c))
		}
	}
	return raw
}

func dmnRule(c *xnode) rawRule {
	r := rawRule{id: c.attr("id"), line: c.line}
	var notes []string
	for _, e := range c.children {
		switch e.name.Local {
		case "inputEntry", "outputEntry":
			re := rawEntry{id: e.attr("id"), text: e.textOf(), line: e.line, lang: e.attr("expressionLanguage")}
			if e.name.Local == "inputEntry" {
				r.inputs = append(r.inputs, re)
			} else {
				r.outputs = append(r.outputs, re)
			}
		case "description", "annotationEntry":
			if s := strings.TrimSpace(e.textOf()); s != "" {
				notes = append(notes, s)
			}
		}
	}
	r.annotation = strings.Join(notes, "\n")
	return r
}
