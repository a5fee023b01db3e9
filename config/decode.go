package config

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// scalar is implemented by config value types that parse themselves from text.
type scalar interface {
	parseScalar(s string) error
}

// Problem is one thing wrong with a config file.
type Problem struct {
	File string
	Line int
	Key  string // dotted key path, e.g. sources[0].buffer_ttl
	Msg  string
}

func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		b.WriteString(":")
	}
	if p.Line > 0 {
		fmt.Fprintf(&b, "%d:", p.Line)
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems is every problem found in one config; it is the error Load returns.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// decoder fills Go values from a YAML node tree, strictly, collecting problems
// with line numbers instead of stopping at the first.
type decoder struct {
	file     string
	problems Problems
	lines    map[string]int // key path -> line, for later validation messages
}

func (d *decoder) add(line int, key, format string, args ...any) {
	d.problems = append(d.problems, Problem{File: d.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

var scalarType = reflect.TypeFor[scalar]()

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return
		}
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	d.lines[path] = n.Line
	if n.Tag == "!!null" {
		return
	}
	if v.Kind() != reflect.Pointer && v.CanAddr() && v.Addr().Type().Implements(scalarType) {
		if n.Kind != yaml.ScalarNode {
			d.add(n.Line, path, "expected a single value, found a %s", kindName(n))
			return
		}
		if err := v.Addr().Interface().(scalar).parseScalar(n.Value); err != nil {
			d.add(n.Line, path, "%v", err)
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.add(n.Line, path, "expected a mapping of keys, found a %s", kindName(n))
			return
		}
		fields := structFields(v.Type())
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			sub := joinPath(path, k.Value)
			idx, ok := fields[k.Value]
			if !ok {
				d.add(k.Line, sub, "unknown key %q (allowed: %s)", k.Value, allowedKeys(fields))
				continue
			}
			d.decode(val, v.Field(idx), sub)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.add(n.Line, path, "expected a mapping, found a %s", kindName(n))
			return
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			ev := reflect.New(v.Type().Elem()).Elem()
			d.decode(val, ev, joinPath(path, k.Value))
			v.SetMapIndex(reflect.ValueOf(k.Value), ev)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.add(n.Line, path, "expected a list, found a %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.add(n.Line, path, "expected a text value, found a %s", kindName(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if n.Kind != yaml.ScalarNode || err != nil {
			d.add(n.Line, path, "expected true or false, found %q", n.Value)
			return
		}
		v.SetBool(b)
	case reflect.Int:
		i, err := strconv.Atoi(n.Value)
		if n.Kind != yaml.ScalarNode || err != nil {
			d.add(n.Line, path, "expected a whole number, found %q", n.Value)
			return
		}
		v.SetInt(int64(i))
	default:
		d.add(n.Line, path, "cannot hold a %s here", kindName(n))
	}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	default:
		return "value " + strconv.Quote(n.Value)
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func structFields(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		tag := t.Field(i).Tag.Get("yaml")
		name, _, _ := strings.Cut(tag, ",")
		if name == "" || name == "-" {
			continue
		}
		m[name] = i
	}
	return m
}

func allowedKeys(fields map[string]int) string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}
