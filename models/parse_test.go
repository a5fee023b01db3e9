package models

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// corpus returns the BPMN files under testdata/dir.
func corpus(t testing.TB, dir string) []string {
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.bpmn"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus in testdata/%s: %v", dir, err)
	}
	return files
}

// describe renders what Parse returns: problems first, then each process.
func describe(defs *Definitions, problems []Problem) string {
	var b strings.Builder
	b.WriteString("problems:\n")
	for _, p := range problems {
		kind := "error"
		if p.Warning {
			kind = "warning"
		}
		fmt.Fprintf(&b, "  %s line %d: %s\n", kind, p.Line, p)
	}
	for _, p := range defs.Processes {
		b.WriteString(render(p))
	}
	return b.String()
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test ./models -update to create it): %v", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run go test ./models -update and review the diff)\n--- got:\n%s\n--- want:\n%s", path, got, want)
	}
}

func TestParseValidCorpus(t *testing.T) {
	for _, file := range corpus(t, "valid") {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			defs, problems := Parse(filepath.Base(file), data, Options{})
			if HasErrors(problems) {
				t.Errorf("valid model has errors:\n%s", describe(defs, problems))
			}
			if len(defs.Processes) == 0 {
				t.Fatalf("no processes parsed")
			}
			golden(t, strings.TrimSuffix(file, ".bpmn")+".golden", describe(defs, problems))
		})
	}
}

func TestParseInvalidCorpus(t *testing.T) {
	for _, file := range corpus(t, "invalid") {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			defs, problems := Parse(filepath.Base(file), data, Options{})
			if !HasErrors(problems) {
				t.Errorf("invalid model has no errors")
			}
			if defs.Processes != nil {
				t.Errorf("invalid model returned processes")
			}
			golden(t, strings.TrimSuffix(file, ".bpmn")+".golden", describe(defs, problems))
		})
	}
}
