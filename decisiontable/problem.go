package decisiontable

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a decision table file, phrased for the
// analyst who edits the table: which file, which line (0 when unknown), which
// element (rule id, input entry id, column id) and what to change.
type Problem struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Element string `json:"element,omitempty"`
	Message string `json:"message"`
}

// String formats the problem as "file:line: element-id: message"; the line
// and element parts are left out when unknown.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(p.Line))
	}
	b.WriteString(": ")
	if p.Element != "" {
		b.WriteString(p.Element)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Problems is the error [Parse] and [Load] return for a table that cannot be
// used: every problem found, in line order. Use errors.As to get the list.
type Problems []Problem

// Error lists the problems, one a line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// problems collects Problems for one file while a table is read.
type problems struct {
	file string
	list Problems
}

func (ps *problems) add(line int, element, format string, args ...any) {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	ps.list = append(ps.list, Problem{File: ps.file, Line: line, Element: element, Message: msg})
}

// sorted returns the problems in line order; problems without a line come
// last, and problems on one line keep the order they were found in.
func (ps *problems) sorted() Problems {
	slices.SortStableFunc(ps.list, func(a, b Problem) int {
		return cmp.Compare(lineKey(a.Line), lineKey(b.Line))
	})
	return ps.list
}

func lineKey(l int) int {
	if l <= 0 {
		return math.MaxInt
	}
	return l
}

func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	return ps.sorted()
}
