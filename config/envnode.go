package config

import (
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// envNode turns an environment value into the YAML node the decoder expects:
// a list for list-typed keys (comma-separated), else a plain scalar.
func envNode(raw string, v reflect.Value) *yaml.Node {
	t := v.Type()
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Slice {
		n := &yaml.Node{Kind: yaml.SequenceNode}
		for _, part := range strings.Split(raw, ",") {
			if part = strings.TrimSpace(part); part != "" {
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: part})
			}
		}
		return n
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Value: raw}
}
