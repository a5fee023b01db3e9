package decisiontable

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// MaxSize is the largest decision table file accepted (4 MiB).
const MaxSize = 4 << 20

// ErrFormat is returned (wrapped) by [Load] for a file name that is neither
// .dmn nor .yaml/.yml.
var ErrFormat = errors.New("unknown decision table format")

// Load reads a decision table file: DMN XML for .dmn (DMN 1.1 to 1.5, as
// Camunda Modeler saves it), the YAML form for .yaml and .yml. A table that
// cannot be used returns [Problems] listing everything wrong with it.
func Load(path string) (*Table, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

func readFile(path string) ([]byte, error) {
	if _, err := format(path); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open decision table: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read decision table %s: %w", path, err)
	}
	return data, nil
}

// format picks the parser by file extension.
func format(name string) (string, error) {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".dmn", ".xml":
		return "dmn", nil
	case ".yaml", ".yml":
		return "yaml", nil
	}
	return "", fmt.Errorf("decision table %s: %w: use .dmn (DMN XML) or .yaml/.yml", name, ErrFormat)
}

// Parse reads a decision table from data; name is the file name, used for
// the format (by extension; without .yaml/.yml/.dmn, data starting with "<"
// is DMN) and in problems. A table that cannot be used returns [Problems].
func Parse(name string, data []byte) (*Table, error) {
	ps := &problems{file: name}
	t := parse(name, data, ps)
	if err := ps.err(); err != nil {
		return nil, err
	}
	return t, nil
}

func parse(name string, data []byte, ps *problems) *Table {
	if len(data) > MaxSize {
		ps.add(0, "", "the file is larger than %d MiB; a decision table for events should be far smaller", MaxSize>>20)
		return nil
	}
	f, err := format(name)
	if err != nil {
		f = "yaml"
		if trimmed := strings.TrimSpace(string(data[:min(len(data), 512)])); strings.HasPrefix(trimmed, "<") {
			f = "dmn"
		}
	}
	var raw *rawTable
	if f == "dmn" {
		raw = parseDMN(data, ps)
	} else {
		raw = parseYAML(data, ps)
	}
	if raw == nil {
		return nil
	}
	return compile(raw, ps)
}

// Check reports everything wrong with a decision table for uncorrelated
// events: what [Parse] reports, and a missing action output, which
// [Table.Decide] needs. Nil means the table is fine. It serves
// POST /api/v1/decisions.
func Check(name string, data []byte) []Problem {
	ps := &problems{file: name}
	t := parse(name, data, ps)
	if len(ps.list) == 0 && t != nil && t.action < 0 {
		elem := t.id
		ps.add(0, elem, "the table has no output named %q; it must say what to do with an event (%s)", outAction, strings.Join(actions, ", "))
	}
	if len(ps.list) == 0 {
		return nil
	}
	return ps.sorted()
}

// CheckFile is [Check] for a file, for `tracker validate`: a file that
// cannot be read is one problem.
func CheckFile(path string) []Problem {
	data, err := readFile(path)
	if err != nil {
		return []Problem{{File: path, Message: err.Error()}}
	}
	return Check(path, data)
}
