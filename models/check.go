package models

import (
	"fmt"
	"io"
	"os"
)

// CheckFile parses and validates the BPMN file at path with default
// [Options], for `tracker validate`. Every problem names path as its file; a
// file that cannot be read is one problem.
func CheckFile(path string) []Problem {
	data, err := readLimited(path, DefaultMaxBytes)
	if err != nil {
		return []Problem{{File: path, Element: "-", Message: err.Error()}}
	}
	_, problems := Parse(path, data, Options{})
	return problems
}

// readLimited reads at most limit+1 bytes, so Parse can report an oversize
// file without the whole of it being read into memory.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read the file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read the file: %w", err)
	}
	return data, nil
}
