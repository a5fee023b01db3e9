package models

import (
	"os"
	"testing"
)

// FuzzParse checks that Parse never panics or hangs on any input, and that
// it returns processes exactly when it reports no error.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"valid", "invalid"} {
		for _, file := range corpus(f, dir) {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		defs, problems := Parse("fuzz.bpmn", data, Options{MaxBytes: 1 << 20})
		if HasErrors(problems) != (defs.Processes == nil) {
			t.Fatalf("errors=%v but processes=%d", HasErrors(problems), len(defs.Processes))
		}
		for _, p := range problems {
			if p.Message == "" || p.Element == "" {
				t.Fatalf("problem without message or element: %#v", p)
			}
		}
		for _, p := range defs.Processes {
			_ = render(p)
		}
	})
}
