// Package sqlite is the embedded history backend: one SQLite file (pure-Go
// modernc.org/sqlite) in the data directory, in WAL mode, with indexes for
// the API's filters, FTS5 tables for `q=` search and per-hour duration
// histograms for statistics. It implements [history.Backend].
package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/tracker-dev/tracker/sqlitedb"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/tracker-dev/tracker/history"
)

// FileName is the database file inside Options.Dir.
const FileName = "history.db"

// schemaVersion is stored in PRAGMA user_version; a newer file is refused.
const schemaVersion = 1

// Options configure [Open].
type Options struct {
	// Dir is the directory of the database file (created if missing). Required.
	Dir string
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
	// NoSync sets synchronous=OFF: faster, but a machine crash may lose the
	// last batches (the projector re-applies them from the engine's feed, so
	// nothing is lost for good). Default: synchronous=NORMAL, which in WAL
	// mode is durable against process crashes.
	NoSync bool
	// ReadConns is the number of connections for queries (default 4).
	ReadConns int
}

// Store is the SQLite history backend. It is safe for concurrent use: writes
// are serialised, reads run in parallel on their own WAL snapshots.
type Store struct {
	opts Options
	log  *slog.Logger
	path string
	wdb  *sql.DB // one connection: Apply and Cleanup
	rdb  *sql.DB // queries
	mu   sync.Mutex
	// stmts are the writer's prepared statements by text (guarded by mu).
	stmts map[string]*sql.Stmt
	// shapes are the texts of multi-row INSERTs (guarded by mu).
	shapes map[shape]string
	// docs is the writer's JSON buffer, reused by every batch (guarded by mu).
	docs bytes.Buffer
}

var _ history.Backend = (*Store)(nil)

// Open opens (or creates) the database in opts.Dir.
func Open(opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("history sqlite options: Dir is required")
	}
	if opts.ReadConns < 0 {
		return nil, fmt.Errorf("history sqlite options: ReadConns %d must not be negative", opts.ReadConns)
	}
	if opts.ReadConns == 0 {
		opts.ReadConns = 4
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("open history store %s: %w", opts.Dir, err)
	}
	path := filepath.Join(opts.Dir, FileName)
	s := &Store{opts: opts, log: opts.Logger.With("component", "history", "backend", "sqlite"), path: path}
	if err := create(path, pageSize); err != nil {
		return nil, fmt.Errorf("open history store %s: %w", path, err)
	}
	db, err := sqlitedb.Open(path, sqlitedb.Options{
		NoSync: opts.NoSync, Readers: opts.ReadConns, Version: schemaVersion, Schema: schema,
		Pragmas: []string{
			"cache_size(-65536)", "temp_store(MEMORY)",
			"wal_autocheckpoint(8000)", // checkpoint every ~32 MiB: hot index pages are copied once, not per batch
		},
	})
	if err != nil {
		return nil, fmt.Errorf("open history store %s: %w", path, err)
	}
	s.wdb, s.rdb = db.W, db.R
	return s, nil
}

// pageSize is the page size of a new file. Larger pages than SQLite's
// default 4 KiB mean fewer B-tree splits and fewer WAL frames (each one a
// write system call) per batch.
const pageSize = 16384

// create makes an empty database file with the given page size, unless the
// file exists. The page size of a WAL database is fixed once its header is
// written, so it is set before anything else touches the file.
func create(path string, size int) error {
	if _, err := os.Stat(path); err == nil || !errors.Is(err, os.ErrNotExist) {
		return err
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, fmt.Sprintf("PRAGMA page_size = %d", size)); err != nil {
		return fmt.Errorf("set page size: %w", err)
	}
	if _, err := db.ExecContext(ctx, "PRAGMA journal_mode = WAL"); err != nil {
		return fmt.Errorf("set WAL mode: %w", err)
	}
	return db.Close()
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Close closes the database.
func (s *Store) Close() error {
	s.mu.Lock()
	var errs []error
	for _, st := range s.stmts {
		errs = append(errs, st.Close())
	}
	s.stmts = nil
	s.mu.Unlock()
	err := errors.Join(append(errs, s.rdb.Close(), s.wdb.Close())...)
	if err != nil {
		return fmt.Errorf("close history store %s: %w", s.path, err)
	}
	return nil
}

// Refresh does nothing: SQLite reads see every committed Apply.
func (s *Store) Refresh(context.Context) error { return nil }

// Checkpoint returns the feed position stored by the last Apply.
func (s *Store) Checkpoint(ctx context.Context) (uint64, error) {
	var v int64
	err := s.rdb.QueryRowContext(ctx, `SELECT value FROM meta WHERE name = 'checkpoint'`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read history checkpoint: %w", err)
	}
	return uint64(v), nil
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}

// schema: times are Unix nanoseconds (UTC); doc holds the JSON document as
// written, the other columns are copies for filtering and ordering.
var schema = []string{
	`CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID`,

	`CREATE TABLE instances (
		key INTEGER PRIMARY KEY,
		process_id TEXT NOT NULL,
		version INTEGER NOT NULL,
		correlation_key TEXT NOT NULL,
		state TEXT NOT NULL,
		started_at INTEGER NOT NULL,
		ended_at INTEGER,
		text_hash INTEGER NOT NULL,
		doc BLOB NOT NULL)`,
	`CREATE INDEX instances_started ON instances (started_at, key)`,
	`CREATE INDEX instances_process ON instances (process_id, version, started_at, key)`,
	`CREATE INDEX instances_state ON instances (state, started_at, key)`,
	`CREATE INDEX instances_ck ON instances (correlation_key)`,
	`CREATE INDEX instances_ended ON instances (ended_at) WHERE ended_at IS NOT NULL`,
	`CREATE VIRTUAL TABLE instances_fts USING fts5 (body, content='', contentless_delete=1)`,

	`CREATE TABLE elements (
		key INTEGER PRIMARY KEY,
		instance_key INTEGER NOT NULL,
		process_id TEXT NOT NULL,
		version INTEGER NOT NULL,
		element_id TEXT NOT NULL,
		state TEXT NOT NULL,
		started_at INTEGER NOT NULL,
		inst_started INTEGER NOT NULL,
		doc BLOB NOT NULL)`,
	`CREATE INDEX elements_instance ON elements (instance_key, key)`,
	// Stuck listings walk this in the instances' start order and stop after a page.
	`CREATE INDEX elements_stuck ON elements (process_id, element_id, inst_started, instance_key, started_at) WHERE state = 'active'`,
	`CREATE INDEX elements_active ON elements (process_id, element_id, started_at) WHERE state = 'active'`,
	`CREATE INDEX elements_active_element ON elements (element_id) WHERE state = 'active'`,

	// Per hour (of entering the element) aggregates: element instances
	// active now, finished ones with the sum of their durations and a
	// log-bucket histogram.
	`CREATE TABLE element_hours (
		process_id TEXT NOT NULL,
		element_id TEXT NOT NULL,
		hour INTEGER NOT NULL,
		version INTEGER NOT NULL,
		active INTEGER NOT NULL,
		completed INTEGER NOT NULL,
		skipped INTEGER NOT NULL,
		terminated INTEGER NOT NULL,
		sum_ms INTEGER NOT NULL,
		hist BLOB NOT NULL,
		PRIMARY KEY (process_id, element_id, hour, version)) WITHOUT ROWID`,

	`CREATE TABLE events (
		rowid INTEGER PRIMARY KEY,
		id TEXT NOT NULL UNIQUE,
		event_time INTEGER NOT NULL,
		outcome TEXT NOT NULL,
		reason TEXT NOT NULL,
		message_name TEXT NOT NULL,
		correlation_key TEXT NOT NULL,
		instance_key INTEGER NOT NULL,
		doc BLOB NOT NULL)`,
	// Few indexes keep ingest fast: most events start or correlate, so
	// filters on those outcomes and on message names walk events_time; the
	// rare outcomes (uncorrelated, buffered, duplicate) have their own index.
	`CREATE INDEX events_time ON events (event_time, id)`,
	`CREATE INDEX events_ck ON events (correlation_key, event_time, id)`,
	`CREATE INDEX events_instance ON events (instance_key, event_time, id) WHERE instance_key != 0`,
	`CREATE INDEX events_rare ON events (outcome, event_time, id) WHERE outcome NOT IN ('started', 'correlated')`,
	`CREATE VIRTUAL TABLE events_fts USING fts5 (body, content='', contentless_delete=1)`,

	`CREATE TABLE incidents (
		id TEXT PRIMARY KEY,
		state TEXT NOT NULL,
		reason TEXT NOT NULL,
		instance_key INTEGER NOT NULL,
		process_id TEXT NOT NULL,
		version INTEGER NOT NULL,
		element_id TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		doc BLOB NOT NULL)`,
	`CREATE INDEX incidents_created ON incidents (created_at, id)`,
	`CREATE INDEX incidents_instance ON incidents (instance_key, created_at, id)`,
	`CREATE INDEX incidents_open ON incidents (process_id, element_id) WHERE state = 'open'`,

	`CREATE TABLE actions (
		id TEXT PRIMARY KEY,
		instance_key INTEGER NOT NULL,
		state TEXT NOT NULL,
		raised_at INTEGER NOT NULL,
		doc BLOB NOT NULL)`,
	`CREATE INDEX actions_raised ON actions (raised_at, id)`,
	`CREATE INDEX actions_instance ON actions (instance_key, raised_at, id)`,
}
