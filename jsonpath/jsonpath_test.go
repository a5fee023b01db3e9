package jsonpath

import "testing"

func TestCompile(t *testing.T) {
	tests := []struct {
		in, gjson string
		origin    Origin
	}{
		{"$", "", Value},
		{"$.orderId", "orderId", Value},
		{"$.a.b", "a.b", Value},
		{"$.a[0].b", "a.0.b", Value},
		{"$['a-b']", "a-b", Value},
		{"$['a.b'].c", `a\.b.c`, Value},
		{"$key", "", Key},
		{"$headers.ce_type", "", Header},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := Compile(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if p.GJSON() != tt.gjson || p.Origin() != tt.origin {
				t.Fatalf("got gjson %q origin %v, want %q %v", p.GJSON(), p.Origin(), tt.gjson, tt.origin)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := map[string]string{
		"orderId":   `jsonpath "orderId": must start with $ (e.g. $.orderId, $key, $headers.name)`,
		"$.":        `jsonpath "$.": empty field name at position 1`,
		"$.a[*]":    `jsonpath "$.a[*]": "*" at position 3 is not an array index (wildcards and filters are not supported)`,
		"$.a['b":    `jsonpath "$.a['b": unterminated ['...'] at position 3`,
		"$headers.": `jsonpath "$headers.": header name missing (expected $headers.name)`,
		"$x":        `jsonpath "$x": unexpected 'x' at position 1`,
		"$..a":      `jsonpath "$..a": empty field name at position 1`,
		"$.a.@b":    `jsonpath "$.a.@b": "@b" at position 3 is outside the supported subset (fields, [index], ['name'])`,
	}
	for in, want := range tests {
		t.Run(in, func(t *testing.T) {
			_, err := Compile(in)
			if err == nil || err.Error() != want {
				t.Fatalf("err = %v\nwant  %s", err, want)
			}
		})
	}
}

func TestTailGJSON(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"$.data.orderId", 1, "orderId"},
		{"$.data.items[0].sku", 1, "items.0.sku"},
		{"$.data", 1, ""},
		{"$.a.b", 0, "a.b"},
		{"$", 1, ""},
		{"$['data']['a.b']", 1, `a\.b`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := Compile(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.TailGJSON(tt.n); got != tt.want {
				t.Fatalf("TailGJSON(%d) = %q, want %q", tt.n, got, tt.want)
			}
		})
	}
}
