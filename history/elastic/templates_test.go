package elastic

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tracker-dev/tracker/history"
)

// jsonFields lists the JSON names of a struct's fields, embedded ones
// included, outer names winning.
func jsonFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestMappingsCoverDocuments fails when a history document gains a field the
// explicit mapping does not name: with "dynamic": false it would be stored
// but silently not searchable.
func TestMappingsCoverDocuments(t *testing.T) {
	tests := []struct {
		kind string
		doc  any
	}{
		{kindEvents, eventDoc{}},
		{kindInstances, instanceDoc{}},
		{kindElements, elementDoc{}},
		{kindIncidents, history.Incident{}},
		{kindActions, history.Action{}},
		{kindMeta, metaDoc{}},
	}
	for _, tc := range tests {
		t.Run(tc.kind, func(t *testing.T) {
			props := mappings(tc.kind)["properties"].(map[string]any)
			for _, f := range jsonFields(reflect.TypeOf(tc.doc)) {
				if _, ok := props[f]; !ok {
					t.Errorf("field %q of %T has no mapping in the %s template", f, tc.doc, tc.kind)
				}
			}
			for f := range props {
				if !slices.Contains(jsonFields(reflect.TypeOf(tc.doc)), f) {
					t.Errorf("the %s mapping names %q, which %T does not have", tc.kind, f, tc.doc)
				}
			}
		})
	}
	// Nested active elements: everything stored is mapped ("stuck" is
	// computed at query time and never written).
	nested := mappings(kindInstances)["properties"].(map[string]any)["activeElements"].(map[string]any)["properties"].(map[string]any)
	for _, f := range jsonFields(reflect.TypeOf(history.ActiveElement{})) {
		if _, ok := nested[f]; !ok && f != "stuck" {
			t.Errorf("activeElements.%s has no mapping", f)
		}
	}
}
