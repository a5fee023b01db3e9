// Package sqlitedb opens the embedded SQLite databases (modernc.org/sqlite,
// pure Go) that the history read model and the incident store keep in the
// data dir: WAL mode, one writer connection with IMMEDIATE transactions, a
// pool of readers, and a schema version in PRAGMA user_version that a newer
// file is refused by.
package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite"
)

// Options configure [Open].
type Options struct {
	// NoSync sets synchronous=OFF (tests, benchmarks); default NORMAL, which in
	// WAL mode is durable against process crashes.
	NoSync bool
	// Pragmas are added to every connection, e.g. "cache_size(-65536)".
	Pragmas []string
	// Readers is the size of the read pool (default 4).
	Readers int
	// Version and Schema create the tables of a new file; a file with a higher
	// version was written by a newer tracker and is refused.
	Version int
	Schema  []string
}

// DB is a writer connection and a reader pool on one file.
type DB struct {
	W *sql.DB // one connection; BEGIN IMMEDIATE
	R *sql.DB // readers; BEGIN DEFERRED
}

// Open opens (creating if needed) the database at path.
func Open(path string, o Options) (*DB, error) {
	sync := "NORMAL"
	if o.NoSync {
		sync = "OFF"
	}
	if o.Readers <= 0 {
		o.Readers = 4
	}
	dsn := func(txlock string) string {
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous("+sync+")")
		for _, p := range o.Pragmas {
			q.Add("_pragma", p)
		}
		q.Set("_txlock", txlock)
		return "file:" + path + "?" + q.Encode()
	}
	w, err := sql.Open("sqlite", dsn("immediate"))
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	if err := migrate(w, o.Version, o.Schema); err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", dsn("deferred"))
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(o.Readers)
	r.SetMaxIdleConns(o.Readers)
	return &DB{W: w, R: r}, nil
}

// Close closes both pools.
func (d *DB) Close() error { return errors.Join(d.R.Close(), d.W.Close()) }

func migrate(db *sql.DB, version int, schema []string) error {
	ctx := context.Background()
	var ver int
	if err := db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&ver); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if ver > version {
		return fmt.Errorf("schema version %d, this build reads up to %d (written by a newer tracker)", ver, version)
	}
	if ver == version {
		return nil
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	defer tx.Rollback()
	for _, stmt := range schema {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			first, _, _ := strings.Cut(strings.TrimSpace(stmt), "\n")
			return fmt.Errorf("create schema: %s: %w", first, err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, version)); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	return nil
}
