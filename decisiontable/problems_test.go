package decisiontable

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden problem lists in testdata/problems")

// TestProblemFiles checks each broken table in testdata/problems against its
// golden problem list (file.golden, one Problem.String() a line). Run with
// -update to rewrite the lists after reviewing the change.
func TestProblemFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/problems/*")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, path := range files {
		if strings.HasSuffix(path, ".golden") {
			continue
		}
		n++
		t.Run(filepath.Base(path), func(t *testing.T) {
			ps := CheckFile(path)
			if len(ps) == 0 {
				t.Fatal("no problems reported for a broken table")
			}
			var b strings.Builder
			for _, p := range ps {
				b.WriteString(p.String())
				b.WriteByte('\n')
			}
			golden := path + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if b.String() != string(want) {
				t.Errorf("problems differ from %s\n got:\n%s\nwant:\n%s", golden, b.String(), want)
			}
			// Load reports the same problems (except the Decide-only check) as a Problems error.
			_, err = Load(path)
			var list Problems
			if !errors.As(err, &list) {
				if filepath.Base(path) == "no-action.yaml" && err == nil {
					return
				}
				t.Fatalf("Load error = %v, want Problems", err)
			}
			if list.Error() != strings.TrimSuffix(b.String(), "\n") {
				t.Errorf("Load error\n%v\ndiffers from CheckFile", list)
			}
		})
	}
	if n < 5 {
		t.Fatalf("only %d problem files found", n)
	}
}

func TestCheckFile(t *testing.T) {
	t.Run("good tables", func(t *testing.T) {
		for _, f := range []string{"testdata/uncorrelated.dmn", "testdata/uncorrelated.yaml"} {
			if ps := CheckFile(f); ps != nil {
				t.Errorf("%s: %v", f, ps)
			}
		}
	})
	t.Run("missing file", func(t *testing.T) {
		ps := CheckFile("testdata/nope.dmn")
		if len(ps) != 1 || ps[0].File != "testdata/nope.dmn" || !strings.Contains(ps[0].Message, "no such file") {
			t.Errorf("problems = %v", ps)
		}
	})
	t.Run("unknown extension", func(t *testing.T) {
		ps := CheckFile("testdata/table.json")
		want := "testdata/table.json: decision table testdata/table.json: unknown decision table format: use .dmn (DMN XML) or .yaml/.yml"
		if len(ps) != 1 || ps[0].String() != want {
			t.Errorf("problems = %v\nwant %s", ps, want)
		}
		if _, err := Load("testdata/table.json"); !errors.Is(err, ErrFormat) {
			t.Errorf("Load error = %v, want ErrFormat", err)
		}
	})
	t.Run("too large", func(t *testing.T) {
		data := make([]byte, MaxSize+1)
		_, err := Parse("big.dmn", data)
		want := "big.dmn: the file is larger than 4 MiB; a decision table for events should be far smaller"
		if err == nil || err.Error() != want {
			t.Errorf("err = %v, want %s", err, want)
		}
	})
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{File: "t.dmn", Line: 3, Element: "R1_I1", Message: "bad"}, "t.dmn:3: R1_I1: bad"},
		{Problem{File: "t.dmn", Element: "R1_I1", Message: "bad"}, "t.dmn: R1_I1: bad"},
		{Problem{File: "t.dmn", Message: "bad"}, "t.dmn: bad"},
	}
	for _, tc := range tests {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}
