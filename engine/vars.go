package engine

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
)

// varKV is one process variable: its name and its value as raw JSON.
type varKV struct {
	k string
	v json.RawMessage
}

// varSet holds an instance's variables sorted by name. Instances carry a
// handful of variables each: a sorted slice is a fraction of a map's size
// (a map with room for 8 took ≈400 bytes per instance), a lookup touches one
// cache line instead of a map's header, directory and group, and it encodes
// in order without sorting. nil means "no variables yet".
type varSet []varKV

func (vs varSet) find(k string) (int, bool) {
	return slices.BinarySearchFunc(vs, k, func(kv varKV, k string) int { return strings.Compare(kv.k, k) })
}

// get returns the value of the variable named k.
func (vs varSet) get(k string) (json.RawMessage, bool) {
	if i, ok := vs.find(k); ok {
		return vs[i].v, true
	}
	return nil, false
}

// has reports whether there is a variable named k.
func (vs varSet) has(k string) bool {
	_, ok := vs.find(k)
	return ok
}

// set adds or replaces the variable named k; name is the string to keep
// for a new variable (k may point into a message that does not live on).
func (vs *varSet) set(k string, v json.RawMessage, name func(string) string) {
	i, ok := vs.find(k)
	if ok {
		(*vs)[i].v = v
		return
	}
	*vs = slices.Insert(*vs, i, varKV{k: name(k), v: v})
}

// maxVarNames bounds the variable names the engine shares between instances:
// events of one kind carry the same few names, but a payload that uses data
// as names (ids as object keys) must not grow the table without end.
const maxVarNames = 4096

// varName returns the string an instance keeps for a new variable named k:
// one copy per name for all instances (fewer allocations, and the names a
// lookup compares stay in cache), or a copy of its own once the table is full.
func (e *Engine) varName(k string) string {
	if s, ok := e.varNames[k]; ok {
		return s
	}
	s := strings.Clone(k)
	if len(e.varNames) < maxVarNames {
		e.varNames[s] = s
	}
	return s
}

// MarshalJSON writes the variables as one JSON object, as json.Marshal
// writes a map (names in order); nil writes null.
func (vs varSet) MarshalJSON() ([]byte, error) {
	if vs == nil {
		return []byte("null"), nil
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, kv := range vs {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(kv.k)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(kv.v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// sortVars orders variables decoded from a record that may predate sorted
// variables; the last of equal names wins, as it did in a map.
func sortVars(vs varSet) varSet {
	slices.SortStableFunc(vs, func(a, b varKV) int { return strings.Compare(a.k, b.k) })
	out := vs[:0]
	for _, kv := range vs {
		if n := len(out); n > 0 && out[n-1].k == kv.k {
			out[n-1] = kv
			continue
		}
		out = append(out, kv)
	}
	return out
}
