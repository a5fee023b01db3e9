package feel

import (
	"bufio"
	"os"
	"testing"
)

// FuzzCompile checks that Compile and Eval never panic or hang, and that a
// compiled expression keeps its source text.
func FuzzCompile(f *testing.F) {
	file, err := os.Open("testdata/seeds.txt")
	if err != nil {
		f.Fatal(err)
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		f.Add(sc.Text())
	}
	if err := sc.Err(); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := Compile(src)
		if err != nil {
			return
		}
		if e.String() != src {
			t.Fatalf("String() = %q, want %q", e.String(), src)
		}
		_, _ = e.Eval(vars)
		_, _ = e.Eval(nil)
		e.Path()
	})
}
