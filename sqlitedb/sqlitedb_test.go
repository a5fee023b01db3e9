package sqlitedb

import (
	"path/filepath"
	"testing"
)

func TestOpenMigratesAndRefusesNewer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	schema := []string{`CREATE TABLE t (a INTEGER)`}
	db, err := Open(path, Options{Version: 2, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.W.Exec(`INSERT INTO t VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	var mode string
	if err := db.R.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal mode %q %v", mode, err)
	}
	db.Close()
	// Reopening the same version keeps the data; an older build refuses the file.
	db, err = Open(path, Options{Version: 2, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.R.QueryRow(`SELECT count(*) FROM t`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows %d %v", n, err)
	}
	db.Close()
	if _, err := Open(path, Options{Version: 1, Schema: schema}); err == nil || err.Error() != "schema version 2, this build reads up to 1 (written by a newer tracker)" {
		t.Fatalf("older build: %v", err)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "y.db"), Options{Version: 1, Schema: []string{"CREATE TABLE (\nbroken"}}); err == nil {
		t.Fatal("broken schema accepted")
	}
}
