package incidents

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/tracker-dev/tracker/sqlitedb"
	"hash/fnv"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tracker-dev/tracker/engine"
)

// FileName is the database file inside Options.Dir.
const FileName = "incidents.db"

// schemaVersion is stored in PRAGMA user_version; a newer file is refused.
const schemaVersion = 1

// Defaults for [Options].
const (
	DefaultBatchSize    = 1000
	DefaultPollInterval = time.Second
	DefaultBulkMax      = 100
	MaxBulkMax          = 1000
)

// Feed is the part of the engine the projector reads; *engine.Engine
// satisfies it.
type Feed interface {
	Feed(from uint64, max int) ([]engine.Change, error)
	FeedNotify() <-chan struct{}
}

// Options configure [Open]. Dir and Feed are required; every other zero
// value is a safe default.
type Options struct {
	Dir  string // directory of incidents.db (created if missing)
	Feed Feed   // the engine's change feed
	// Correlator runs correlation again for retries; nil makes Retry return
	// [ErrNoCorrelator].
	Correlator Correlator
	// Actions puts given-up actions back in the outbox when an operator
	// retries their ACTION_FAILED incident; nil makes those not retryable.
	Actions ActionRetrier
	Logger  *slog.Logger
	Clock   func() time.Time // nil = time.Now
	// NoSync sets synchronous=OFF (tests, benchmarks). Default NORMAL: in WAL
	// mode durable against process crashes.
	NoSync bool
	// BatchSize is the number of feed changes projected per transaction.
	BatchSize int
	// PollInterval bounds how long Run waits without a feed signal; it is
	// also the first backoff after a failure (doubling up to 30 s).
	PollInterval time.Duration
	// BulkMax is the default and largest number of incidents one bulk
	// operation touches (default 100, at most 1000).
	BulkMax int
}

// Store holds incidents projected from the engine's change feed and the
// operators' work on them. All methods are safe for concurrent use.
type Store struct {
	opts  Options
	log   *slog.Logger
	clock func() time.Time
	path  string
	wdb   *sql.DB // one connection: projection and operations
	rdb   *sql.DB // queries

	pmu sync.Mutex // one projection step at a time
	cp  uint64     // feed checkpoint (guarded by pmu)

	locks [64]sync.Mutex // retries and resolves per incident, striped by id

	smu    sync.Mutex
	status Status

	watcher atomic.Pointer[Watcher]
}

// Watcher learns which incidents changed state: resolved by an operator,
// re-queued, or resolved by a retry that correlated (also in bulk). The
// history read model implements it to keep its incident documents current.
// IncidentsChanged is called after the change is committed and must not
// block; it gets only ids, the watcher reads the states it needs (see
// [Store.ResolvedIncidents]).
type Watcher interface {
	IncidentsChanged(ids []string)
}

// Watch registers w (replacing an earlier one); it is safe while Run runs.
// Changes made before Watch are not signalled: a watcher reconciles what it
// holds once at its start. Watch(nil) stops the signals.
func (s *Store) Watch(w Watcher) {
	if w == nil {
		s.watcher.Store(nil)
		return
	}
	s.watcher.Store(&w)
}

// changed signals a watcher.
func (s *Store) changed(ids ...string) {
	if w := s.watcher.Load(); w != nil && len(ids) > 0 {
		(*w).IncidentsChanged(ids)
	}
}

// ResolvedIncidents returns when each resolved incident among ids was
// resolved; open and unknown ids are left out. The engine's incident for a
// retry that did not correlate counts as resolved when it was opened: the
// store folds it into the original incident.
func (s *Store) ResolvedIncidents(ctx context.Context, ids []string) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	if len(ids) == 0 {
		return out, nil
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, fmt.Errorf("read resolved incidents: %w", err)
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, coalesce(json_extract(doc, '$.resolvedAt'), ''), 0 FROM incidents
		WHERE id IN (SELECT value FROM json_each(?1)) AND state = ?2
		UNION ALL SELECT id, '', at FROM folded WHERE id IN (SELECT value FROM json_each(?1))`, string(list), string(StateResolved))
	if err != nil {
		return nil, fmt.Errorf("read resolved incidents: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, at string
		var folded int64
		if err := rows.Scan(&id, &at, &folded); err != nil {
			return nil, fmt.Errorf("read resolved incidents: %w", err)
		}
		if folded != 0 {
			out[id] = time.Unix(0, folded).UTC()
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, at)
		if err != nil && at != "" {
			return nil, fmt.Errorf("read resolved incidents: incident %s: resolvedAt %q: %w", id, at, err)
		}
		out[id] = t
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read resolved incidents: %w", err)
	}
	return out, nil
}

// Open checks the options and opens (or creates) the database. It starts no
// goroutines; call [Store.Run] to follow the feed.
func Open(opts Options) (*Store, error) {
	var problems []error
	if opts.Dir == "" {
		problems = append(problems, errors.New("incidents options: Dir is required"))
	}
	if opts.Feed == nil {
		problems = append(problems, errors.New("incidents options: Feed is required"))
	}
	if opts.BatchSize < 0 {
		problems = append(problems, fmt.Errorf("incidents options: BatchSize %d must not be negative", opts.BatchSize))
	}
	if opts.PollInterval < 0 {
		problems = append(problems, fmt.Errorf("incidents options: PollInterval %s must not be negative", opts.PollInterval))
	}
	if opts.BulkMax < 0 || opts.BulkMax > MaxBulkMax {
		problems = append(problems, fmt.Errorf("incidents options: BulkMax %d must be between 0 (default %d) and %d", opts.BulkMax, DefaultBulkMax, MaxBulkMax))
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}
	if opts.BatchSize == 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.BulkMax == 0 {
		opts.BulkMax = DefaultBulkMax
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{opts: opts, log: opts.Logger.With("component", "incidents"), clock: opts.Clock}
	if s.clock == nil {
		s.clock = time.Now
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("open incident store %s: %w", opts.Dir, err)
	}
	s.path = filepath.Join(opts.Dir, FileName)
	db, err := sqlitedb.Open(s.path, sqlitedb.Options{NoSync: opts.NoSync, Version: schemaVersion, Schema: schema})
	if err != nil {
		return nil, fmt.Errorf("open incident store %s: %w", s.path, err)
	}
	s.wdb, s.rdb = db.W, db.R
	// Added after schema version 1 without changing it: older files get
	// the table here, and older trackers ignore it.
	if _, err := s.wdb.ExecContext(context.Background(), foldedSchema); err != nil {
		s.Close()
		return nil, fmt.Errorf("open incident store %s: %w", s.path, err)
	}
	cp, err := s.Checkpoint(context.Background())
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("open incident store %s: %w", s.path, err)
	}
	s.cp = cp
	s.status.Checkpoint = cp
	return s, nil
}

// Close closes the database. Stop Run first.
func (s *Store) Close() error {
	if err := errors.Join(s.rdb.Close(), s.wdb.Close()); err != nil {
		return fmt.Errorf("close incident store %s: %w", s.path, err)
	}
	return nil
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Checkpoint returns the last feed sequence number projected.
func (s *Store) Checkpoint(ctx context.Context) (uint64, error) {
	var v int64
	err := s.wdb.QueryRowContext(ctx, `SELECT value FROM meta WHERE name = 'checkpoint'`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read incidents checkpoint: %w", err)
	}
	return uint64(v), nil
}

// schema: times are Unix nanoseconds (UTC); doc holds the incident as JSON
// (with its history), the other columns are copies for filtering.
var schema = []string{
	`CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID`,
	`CREATE TABLE incidents (
		seq INTEGER PRIMARY KEY,
		id TEXT NOT NULL UNIQUE,
		state TEXT NOT NULL,
		reason TEXT NOT NULL,
		message_id TEXT NOT NULL,
		message_name TEXT NOT NULL,
		correlation_key TEXT NOT NULL,
		severity TEXT NOT NULL,
		opened_at INTEGER NOT NULL,
		doc BLOB NOT NULL)`,
	`CREATE INDEX incidents_state ON incidents (state, seq)`,
	`CREATE INDEX incidents_message ON incidents (message_id)`,
	`CREATE INDEX incidents_ck ON incidents (correlation_key)`,
	`CREATE INDEX incidents_opened ON incidents (opened_at)`,
	`CREATE TABLE retries (
		message_id TEXT PRIMARY KEY,
		incident_id TEXT NOT NULL,
		attempt INTEGER NOT NULL,
		actor TEXT NOT NULL) WITHOUT ROWID`,
}

// foldedSchema holds the engine's incidents for retries that did not
// correlate: the store keeps them as attempts on the original incident
// (into_id), so they count as resolved when they were opened (at).
const foldedSchema = `CREATE TABLE IF NOT EXISTS folded (
	id TEXT PRIMARY KEY,
	into_id TEXT NOT NULL,
	at INTEGER NOT NULL) WITHOUT ROWID`

// queryer is a *sql.DB or a *sql.Tx.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func getDoc(ctx context.Context, q queryer, where string, arg any) (*Incident, error) {
	var doc []byte
	err := q.QueryRowContext(ctx, `SELECT doc FROM incidents WHERE `+where, arg).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	inc := new(Incident)
	if err := json.Unmarshal(doc, inc); err != nil {
		return nil, fmt.Errorf("decode stored incident: %w", err)
	}
	return inc, nil
}

const insertSQL = `INSERT INTO incidents (seq, id, state, reason, message_id, message_name, correlation_key, severity, opened_at, doc)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`

// insertWith stores a new incident; one that is there already (same id or
// feed seq) is left alone.
func insertWith(ctx context.Context, stmt *sql.Stmt, inc *Incident) (bool, error) {
	doc, err := json.Marshal(inc)
	if err != nil {
		return false, err
	}
	res, err := stmt.ExecContext(ctx, int64(inc.Seq), inc.ID, string(inc.State), inc.Reason, inc.MessageID, inc.MessageName,
		inc.CorrelationKey, inc.Severity, inc.OpenedAt.UnixNano(), doc)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

func update(ctx context.Context, q queryer, inc *Incident) error {
	doc, err := json.Marshal(inc)
	if err != nil {
		return err
	}
	_, err = q.ExecContext(ctx, `UPDATE incidents SET state = ?, severity = ?, doc = ? WHERE id = ?`,
		string(inc.State), inc.Severity, doc, inc.ID)
	return err
}

// Get returns one incident with its history.
func (s *Store) Get(ctx context.Context, id string) (Incident, error) {
	inc, err := getDoc(ctx, s.rdb, `id = ?`, id)
	if err != nil {
		return Incident{}, fmt.Errorf("read incident %s: %w", id, err)
	}
	if inc == nil {
		return Incident{}, fmt.Errorf("incident %s: %w", id, ErrNotFound)
	}
	return *inc, nil
}

func (f *Filter) where() (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, v any) {
		conds = append(conds, cond)
		args = append(args, v)
	}
	if f.State != "" {
		add("state = ?", string(f.State))
	}
	if f.Reason != "" {
		add("reason = ?", f.Reason)
	}
	if f.MessageName != "" {
		add("message_name = ?", f.MessageName)
	}
	if f.CorrelationKey != "" {
		add("correlation_key = ?", f.CorrelationKey)
	}
	if f.Severity != "" {
		add("severity = ?", f.Severity)
	}
	if !f.From.IsZero() {
		add("opened_at >= ?", f.From.UnixNano())
	}
	if !f.To.IsZero() {
		add("opened_at < ?", f.To.UnixNano())
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// List returns one page of incidents matching f, newest first, without
// their histories.
func (s *Store) List(ctx context.Context, f Filter) (Page, error) {
	if err := f.Validate(); err != nil {
		return Page{}, fmt.Errorf("list incidents: %w", err)
	}
	limit := f.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	where, args := f.where()
	if f.Cursor != "" {
		c, _ := parseCursor(f.Cursor)
		if where == "" {
			where = " WHERE seq < ?"
		} else {
			where += " AND seq < ?"
		}
		args = append(args, int64(c))
	}
	args = append(args, limit+1)
	rows, err := s.rdb.QueryContext(ctx, `SELECT doc FROM incidents`+where+` ORDER BY seq DESC LIMIT ?`, args...)
	if err != nil {
		return Page{}, fmt.Errorf("list incidents: %w", err)
	}
	defer rows.Close()
	page := Page{Items: []Incident{}}
	for rows.Next() {
		var doc []byte
		if err := rows.Scan(&doc); err != nil {
			return Page{}, fmt.Errorf("list incidents: %w", err)
		}
		var inc Incident
		if err := json.Unmarshal(doc, &inc); err != nil {
			return Page{}, fmt.Errorf("list incidents: decode stored incident: %w", err)
		}
		inc.History = nil
		page.Items = append(page.Items, inc)
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("list incidents: %w", err)
	}
	if len(page.Items) > limit {
		page.Items = page.Items[:limit]
		page.Next = strconv.FormatUint(page.Items[limit-1].Seq, 10)
	}
	return page, nil
}

// Count returns how many incidents match f (Limit and Cursor are ignored).
func (s *Store) Count(ctx context.Context, f Filter) (int, error) {
	where, args := f.where()
	var n int
	if err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM incidents`+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count incidents: %w", err)
	}
	return n, nil
}

// lock serialises operations on one incident.
func (s *Store) lock(id string) func() {
	h := fnv.New32a()
	h.Write([]byte(id))
	m := &s.locks[h.Sum32()%uint32(len(s.locks))]
	m.Lock()
	return m.Unlock
}

// modify reads an incident in a write transaction, lets fn change it and
// stores it. fn returning an error rolls back.
func (s *Store) modify(ctx context.Context, id string, fn func(tx *sql.Tx, inc *Incident) error) (Incident, error) {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return Incident{}, err
	}
	defer tx.Rollback()
	inc, err := getDoc(ctx, tx, `id = ?`, id)
	if err != nil {
		return Incident{}, err
	}
	if inc == nil {
		return Incident{}, fmt.Errorf("incident %s: %w", id, ErrNotFound)
	}
	if err := fn(tx, inc); err != nil {
		return Incident{}, err
	}
	inc.UpdatedAt = s.clock().UTC()
	if err := update(ctx, tx, inc); err != nil {
		return Incident{}, err
	}
	if err := tx.Commit(); err != nil {
		return Incident{}, err
	}
	return *inc, nil
}
