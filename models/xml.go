package models

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Namespaces the parser matches on (by URI, whatever prefix the file uses).
const (
	NamespaceBPMN   = "http://www.omg.org/spec/BPMN/20100524/MODEL"
	NamespaceBPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
	NamespaceZeebe  = "http://camunda.org/schema/zeebe/1.0"
)

// maxNesting bounds element nesting; real models stay far below it.
const maxNesting = 200

// xnode is one XML element of the semantic part of the file (the diagram is
// skipped, only its presence is noted).
type xnode struct {
	name     xml.Name
	attrs    []xml.Attr
	children []*xnode
	text     strings.Builder
	line     int
}

func (n *xnode) attr(local string) (string, bool) {
	for _, a := range n.attrs {
		if a.Name.Local == local && (a.Name.Space == "" || a.Name.Space == NamespaceBPMN) {
			return a.Value, true
		}
	}
	return "", false
}

func (n *xnode) get(local string) string {
	v, _ := n.attr(local)
	return strings.TrimSpace(v)
}

func (n *xnode) is(space, local string) bool { return n.name.Space == space && n.name.Local == local }

// xmlDoc is the decoded semantic tree.
type xmlDoc struct {
	root       *xnode
	hasDiagram bool
}

// errDeclaration marks a DOCTYPE or entity declaration.
var errDeclaration = errors.New("DOCTYPE and entity declarations are not allowed in BPMN files")

// decodeXML builds the element tree token by token. It never expands
// entities beyond XML's predefined five, refuses DOCTYPE/ENTITY
// declarations, and returns the line of the failure.
func decodeXML(data []byte) (*xmlDoc, int, error) {
	// The diagram is most of a file and irrelevant to the graph: blank it
	// out before decoding (keeping line breaks, so lines stay right). If the
	// cut went wrong on some odd file, decode the file as it is.
	if stripped, found := stripDiagrams(data); found {
		if doc, _, err := decodeTokens(stripped); err == nil {
			doc.hasDiagram = doc.hasDiagram || bytes.Contains(data, []byte(NamespaceBPMNDI))
			return doc, 0, nil
		}
	}
	return decodeTokens(data)
}

// stripDiagrams returns a copy of data with every <prefix:BPMNDiagram>
// element replaced by its line breaks, and whether it found one.
func stripDiagrams(data []byte) ([]byte, bool) {
	const local = "BPMNDiagram"
	type region struct{ start, end int }
	var cut []region
	from := 0
	for {
		i := bytes.Index(data[from:], []byte(local))
		if i < 0 {
			break
		}
		i += from
		from = i + len(local)
		start := i - 1
		for start >= 0 && isNameByte(data[start]) {
			start--
		}
		if start < 0 || data[start] != '<' || (start+1 < i && data[i-1] != ':') || from >= len(data) || isNameByte(data[from]) {
			continue // not a start tag of an element named BPMNDiagram
		}
		tagEnd := bytes.IndexByte(data[i:], '>')
		if tagEnd < 0 {
			return nil, false
		}
		end := i + tagEnd + 1
		if data[end-2] != '/' {
			closing := "</" + string(data[start+1:i]) + local + ">"
			j := bytes.Index(data[end:], []byte(closing))
			if j < 0 {
				return nil, false
			}
			end += j + len(closing)
		}
		cut = append(cut, region{start, end})
		from = end
	}
	if len(cut) == 0 {
		return nil, false
	}
	out := make([]byte, 0, len(data))
	prev := 0
	for _, r := range cut {
		out = append(out, data[prev:r.start]...)
		out = append(out, bytes.Repeat([]byte{'\n'}, bytes.Count(data[r.start:r.end], []byte{'\n'}))...)
		prev = r.end
	}
	return append(out, data[prev:]...), true
}

func isNameByte(c byte) bool {
	return c == '_' || c == '-' || c == '.' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// decodeTokens builds the element tree token by token.
func decodeTokens(data []byte) (*xmlDoc, int, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	lines := lineCounter{data: data, line: 1}
	doc := &xmlDoc{}
	var stack []*xnode
	for {
		before := d.InputOffset()
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return nil, se.Line, fmt.Errorf("malformed XML: %s", se.Msg)
			}
			return nil, lines.at(d.InputOffset()), fmt.Errorf("malformed XML: %v", err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			upper := strings.ToUpper(strings.TrimSpace(string(t)))
			if strings.HasPrefix(upper, "DOCTYPE") || strings.HasPrefix(upper, "ENTITY") || strings.Contains(upper, "<!ENTITY") {
				return nil, lines.at(before), errDeclaration
			}
		case xml.StartElement:
			line := lines.at(tagStart(data, before))
			if t.Name.Space == NamespaceBPMNDI && t.Name.Local == "BPMNDiagram" {
				doc.hasDiagram = true
				if err := d.Skip(); err != nil {
					return nil, lines.at(d.InputOffset()), fmt.Errorf("malformed XML in the diagram: %v", err)
				}
				continue
			}
			if len(stack) >= maxNesting {
				return nil, line, fmt.Errorf("elements nested more than %d levels deep", maxNesting)
			}
			n := &xnode{name: t.Name, attrs: t.Attr, line: line}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
			} else if doc.root == nil {
				doc.root = n
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
	if doc.root == nil {
		return nil, 1, errors.New("the file holds no XML element")
	}
	return doc, 0, nil
}

// tagStart returns the offset of the '<' that begins the token read from off.
func tagStart(data []byte, off int64) int64 {
	if i := bytes.IndexByte(data[off:], '<'); i >= 0 {
		return off + int64(i)
	}
	return off
}

// lineCounter converts increasing byte offsets into line numbers.
type lineCounter struct {
	data []byte
	off  int64
	line int
}

func (c *lineCounter) at(off int64) int {
	if off > int64(len(c.data)) {
		off = int64(len(c.data))
	}
	if off < c.off { // not monotonic: count from the start
		c.off, c.line = 0, 1
	}
	c.line += bytes.Count(c.data[c.off:off], []byte{'\n'})
	c.off = off
	return c.line
}
