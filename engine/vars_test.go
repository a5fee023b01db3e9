package engine

import (
	"encoding/json"
	"testing"
)

// TestVarSet: variables stay sorted and unique however they arrive, and
// marshal exactly as the map they replaced did (history, views and action
// records compare these bytes).
func TestVarSet(t *testing.T) {
	e := &Engine{varNames: map[string]string{}}
	m := map[string]json.RawMessage{}
	var vs varSet
	for _, kv := range []struct{ k, v string }{
		{"orderId", `"A-1"`}, {"amount", `129.9`}, {"<b>&\"x\"", `"<tag>"`}, {"amount", `130`},
		{"é", `[1,2]`}, {"", `null`}, {"items", `{"a":1}`}, {"orderId", `"A-2"`},
	} {
		vs.set(kv.k, json.RawMessage(kv.v), e.varName)
		m[kv.k] = json.RawMessage(kv.v)
	}
	if len(vs) != len(m) {
		t.Fatalf("%d variables, want %d: %v", len(vs), len(m), vs)
	}
	for i := 1; i < len(vs); i++ {
		if vs[i-1].k >= vs[i].k {
			t.Fatalf("not sorted at %d: %q then %q", i, vs[i-1].k, vs[i].k)
		}
	}
	for k, v := range m {
		if got, ok := vs.get(k); !ok || string(got) != string(v) {
			t.Errorf("get(%q) = %s, %v; want %s", k, got, ok, v)
		}
	}
	if vs.has("missing") {
		t.Error("has(missing)")
	}
	got, err := json.Marshal(vs)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(m)
	if string(got) != string(want) {
		t.Errorf("marshal:\n got %s\nwant %s", got, want)
	}
	if b, _ := json.Marshal(varSet(nil)); string(b) != "null" {
		t.Errorf("nil marshals as %s, want null (as a nil map did)", b)
	}
	dec := sortVars(varSet{{"b", json.RawMessage("1")}, {"a", json.RawMessage("2")}, {"b", json.RawMessage("3")}})
	if len(dec) != 2 || dec[0].k != "a" || dec[1].k != "b" || string(dec[1].v) != "3" {
		t.Errorf("sortVars = %v, want a=2 b=3", dec)
	}
}

// TestVarNamesBounded: names are shared up to maxVarNames, then each
// instance keeps its own copy.
func TestVarNamesBounded(t *testing.T) {
	e := &Engine{varNames: map[string]string{}}
	for i := range maxVarNames + 10 {
		e.varName(string(rune('a'+i%26)) + string(rune(i)))
	}
	if len(e.varNames) != maxVarNames {
		t.Errorf("%d names kept, want %d", len(e.varNames), maxVarNames)
	}
}
