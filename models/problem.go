package models

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrInvalid is returned (wrapped) by [Repository.Deploy] when the model has
// error problems; the problems themselves come alongside.
var ErrInvalid = errors.New("invalid model")

// Problem is one thing wrong with a model, located as precisely as we can.
type Problem struct {
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`    // 1-based line of the element's start tag, 0 when unknown
	Element string `json:"element"`           // element id, "-" when the problem is not about one element
	Name    string `json:"name,omitempty"`    // element name, if it has one
	Message string `json:"message"`           // a sentence a modeller understands
	Warning bool   `json:"warning,omitempty"` // warnings do not stop a deployment
}

// String formats the problem as "file: element-id (name): message", leaving
// out " (name)" when the element has no name.
func (p Problem) String() string {
	el := p.Element
	if el == "" {
		el = "-"
	}
	var b strings.Builder
	b.WriteString(p.File)
	b.WriteString(": ")
	b.WriteString(el)
	if p.Name != "" {
		b.WriteString(" (")
		b.WriteString(p.Name)
		b.WriteString(")")
	}
	b.WriteString(": ")
	b.WriteString(p.Message)
	return b.String()
}

// HasErrors reports whether any problem is an error rather than a warning.
func HasErrors(problems []Problem) bool {
	return slices.ContainsFunc(problems, func(p Problem) bool { return !p.Warning })
}

// Errors returns the problems that are errors, joined into one error, or nil.
func Errors(problems []Problem) error {
	var errs []error
	for _, p := range problems {
		if !p.Warning {
			errs = append(errs, errors.New(p.String()))
		}
	}
	return errors.Join(errs...)
}

// sortProblems orders problems by line, then element, then message, so the
// report reads top to bottom like the file.
func sortProblems(ps []Problem) []Problem {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Element, b.Element), cmp.Compare(a.Message, b.Message))
	})
	// the same sentence about the same element twice says nothing new
	return slices.CompactFunc(ps, func(a, b Problem) bool { return a == b })
}

func (p Problem) withFile(file string) Problem {
	p.File = file
	return p
}

func problemf(line int, el, name string, warning bool, format string, args ...any) Problem {
	if el == "" {
		el = "-"
	}
	return Problem{Line: line, Element: el, Name: name, Message: fmt.Sprintf(format, args...), Warning: warning}
}
