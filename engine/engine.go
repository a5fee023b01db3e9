package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	pebblebloom "github.com/cockroachdb/pebble/v2/bloom"

	"github.com/tracker-dev/tracker/models"
)

// Defaults for [Options].
const (
	DefaultDedupeRetention = 7 * 24 * time.Hour
	DefaultCacheSize       = 100_000
	DefaultBlockCacheBytes = 64 << 20
	blobMinimumSize        = 512       // values at least this large go to Pebble blob files
	defaultDecisionTTL     = time.Hour // buffer TTL for a "buffer" decision when the source has none
)

// Engine is the embedded tracking engine. All methods are safe for concurrent
// use; Apply, Tick and MarkActions are serialised.
type Engine struct {
	opts  Options
	log   *slog.Logger
	clock func() time.Time
	db    *pebble.DB
	lock  *os.File
	wo    *pebble.WriteOptions

	// readMu guards the store against Close for readers that do not take
	// mu (Feed, PendingActions), so they never wait for an Apply.
	readMu     sync.RWMutex
	readClosed bool

	// outbox caches pending outbox entries read by PendingActions, so that
	// MarkActions need not read and decode them again (the relay marks every
	// entry it read). A miss falls back to the store.
	outbox outboxCache

	mu        sync.Mutex
	cnt       counters
	procs     procIndex
	startSig  string // procs.sig whose timer start events are armed
	cache     map[string]*group
	syms      *symbols // model strings of group and path records
	lruHead   *group   // most recently used
	lruTail   *group
	groups    *bloomChain              // correlation keys that may have a stored group
	varNames  map[string]string        // variable names shared by the instances that carry them (varName)
	dedupe    map[uint32]*bloomChain   // message ids by read day
	positions map[TopicPartition]int64 // next offset per partition
	nextDue   time.Time                // earliest timer known (zero: unknown/none)
	floors    [4]time.Time             // per due-item kind (floorIndex): no key is earlier (zero: unknown)
	tickDel   map[string]struct{}      // due-item keys deleted by lazy Tick rounds whose commit has not landed
	tickLow   [4]time.Time             // during a lazy Tick round: the earliest due-item key it wrote per range
	ticking   bool                     // a lazy Tick round is running (txn.lowerFloor records into tickLow)
	tickWrote bool                     // a lazy round of the running Tick wrote to the open group commit
	notifyMu  sync.Mutex
	notify    chan struct{}                                   // closed by the next commit that appends to the feed; nil until asked for
	txns      [2]*txn                                         // reused txns, each with its write batch: one may commit while the next is built
	inflight  *txn                                            // the batch whose commit is in progress, if any (see ApplyAsync)
	open      *txn                                            // batches applied in memory whose commit has not started (Options.GroupCommit)
	failed    error                                           // a commit failed: in-memory state is ahead of the store; every call fails
	batchSeq  uint64                                          // number of the last batch begun
	commitFn  func(*pebble.Batch, *pebble.WriteOptions) error // (*pebble.Batch).Commit; tests delay it
	durable   uint64                                          // number of the last batch known to have landed
	closed    bool
}

// Open opens (or creates) the engine's store in opts.Dir and loads what the
// hot path needs: counters, source positions and the Bloom filters of
// correlation keys and message ids. It fails at once if another engine has
// the directory open, and with a clear error if the store is corrupt or was
// written by a newer version; it never resets a store.
func Open(opts Options) (*Engine, error) {
	var problems []error
	if opts.Dir == "" {
		problems = append(problems, errors.New("engine options: Dir is required"))
	}
	if opts.Processes == nil {
		problems = append(problems, errors.New("engine options: Processes is required"))
	}
	if opts.DedupeRetention < 0 {
		problems = append(problems, fmt.Errorf("engine options: DedupeRetention %s must not be negative", opts.DedupeRetention))
	}
	if opts.BlockCacheBytes < 0 {
		problems = append(problems, fmt.Errorf("engine options: BlockCacheBytes %d must not be negative", opts.BlockCacheBytes))
	}
	if opts.CacheSize < 0 {
		problems = append(problems, fmt.Errorf("engine options: CacheSize %d must not be negative", opts.CacheSize))
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}
	if opts.DedupeRetention == 0 {
		opts.DedupeRetention = DefaultDedupeRetention
	}
	if opts.CacheSize == 0 {
		opts.CacheSize = DefaultCacheSize
	}
	e := &Engine{
		opts:      opts,
		log:       opts.Logger,
		clock:     opts.Clock,
		cache:     make(map[string]*group),
		syms:      newSymbols(),
		groups:    newBloomChain(1 << 20),
		dedupe:    make(map[uint32]*bloomChain),
		varNames:  make(map[string]string),
		tickDel:   make(map[string]struct{}),
		positions: make(map[TopicPartition]int64),
		wo:        pebble.Sync,
		commitFn:  (*pebble.Batch).Commit,
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	e.log = e.log.With("component", "engine")
	if e.clock == nil {
		e.clock = time.Now
	}
	if opts.NoSync {
		e.wo = pebble.NoSync
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("open engine store %s: %w", opts.Dir, err)
	}
	lock, err := lockDir(opts.Dir)
	if err != nil {
		return nil, err
	}
	e.lock = lock
	if opts.BlockCacheBytes == 0 {
		opts.BlockCacheBytes = DefaultBlockCacheBytes
	}
	cache := pebble.NewCache(opts.BlockCacheBytes)
	defer cache.Unref()
	// Flushes and compactions were a quarter of the CPU of
	// BenchmarkApply/grouped: group records and dedupe keys land all over
	// the key space, so every level rewrites them. A larger memtable folds
	// more rewrites of one group before a flush, and a larger L0 and base
	// level cut the rewrites per byte: ≈−1.5 cpu-µs per event, +6–12 %
	// events/s, with part of it deferred (debt-MiB; ENGINE.md, benchmarks).
	popts := &pebble.Options{
		Logger:                pebbleLogger{e.log},
		MemTableSize:          128 << 20,
		L0CompactionThreshold: 8,
		L0StopWritesThreshold: 24,
		LBaseMaxBytes:         256 << 20,
		Cache:                 cache,
	}
	// Value separation (Pebble's blob files, like RocksDB's BlobDB): feed
	// chunks and large group records are written once into blob files at
	// flush and then only referenced, so level compactions move keys, not
	// the append-only feed's bytes (−7…12 % CPU per event in BenchmarkApply).
	popts.FormatMajorVersion = pebble.FormatValueSeparation
	popts.Experimental.ValueSeparationPolicy = func() pebble.ValueSeparationPolicy {
		return pebble.ValueSeparationPolicy{
			Enabled: true, MinimumSize: blobMinimumSize, MaxBlobReferenceDepth: 10,
			RewriteMinimumAge: 5 * time.Minute, TargetGarbageRatio: 0.2,
		}
	}
	// Table Bloom filters let a cache miss or a timer's group read skip the
	// tables that do not hold the key.
	for i := range popts.Levels {
		popts.Levels[i].FilterPolicy = pebblebloom.FilterPolicy(10)
	}
	db, err := pebble.Open(opts.Dir, popts)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("open engine store %s (the store is damaged; restore it from a backup or move it away — it is never reset automatically): %w", opts.Dir, err)
	}
	e.db = db
	if err := e.load(); err != nil {
		db.Close()
		lock.Close()
		return nil, fmt.Errorf("open engine store %s: %w", opts.Dir, err)
	}
	return e, nil
}

// lockDir takes an exclusive flock on dir/ENGINE.LOCK. flock conflicts between
// two descriptors even in one process, so a second Open in the same process
// fails as well.
func lockDir(dir string) (*os.File, error) {
	name := filepath.Join(dir, "ENGINE.LOCK")
	f, err := os.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open engine store %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("open engine store %s: %w (is another tracker running with the same data_dir?)", dir, ErrLocked)
		}
		return nil, fmt.Errorf("lock engine store %s: %w", dir, err)
	}
	return f, nil
}

// load checks the format version and rebuilds the in-memory indexes.
func (e *Engine) load() error {
	v, found, err := get(e.db, keyFormat)
	if err != nil {
		return fmt.Errorf("read format version: %w", err)
	}
	if !found {
		// A store without a format key must be empty: refuse anything else.
		it, err := e.db.NewIter(nil)
		if err != nil {
			return err
		}
		nonEmpty := it.First()
		it.Close()
		if nonEmpty {
			return fmt.Errorf("%w: data without a format version (not a tracker engine store?)", errCorrupt)
		}
		e2 := enc{}
		e2.uvarint(formatVersion)
		if err := e.db.Set(keyFormat, e2.b, pebble.Sync); err != nil {
			return fmt.Errorf("write format version: %w", err)
		}
	} else {
		d := dec{b: v}
		ver := d.uvarint()
		if d.err != nil {
			return fmt.Errorf("read format version: %w", d.err)
		}
		if ver > formatVersion {
			return fmt.Errorf("format version %d, this build reads up to %d: %w", ver, formatVersion, ErrNewerFormat)
		}
		if ver < formatVersion { // older records still decode; older trackers must not open it any more
			e2 := enc{}
			e2.uvarint(formatVersion)
			if err := e.db.Set(keyFormat, e2.b, pebble.Sync); err != nil {
				return fmt.Errorf("write format version: %w", err)
			}
		}
	}
	if err := e.scan([]byte{pSymbol}, func(k, v []byte) error {
		if len(k) != 9 {
			return fmt.Errorf("%w: symbol key %x", errCorrupt, k)
		}
		return e.syms.load(binary.BigEndian.Uint64(k[1:]), string(v))
	}); err != nil {
		return fmt.Errorf("read symbols: %w", err)
	}
	if v, found, err := get(e.db, keyCounters); err != nil {
		return fmt.Errorf("read counters: %w", err)
	} else if found {
		if e.cnt, err = decodeCounters(v); err != nil {
			return fmt.Errorf("read counters: %w", err)
		}
	}
	// positions
	if err := e.scan([]byte{pPosition}, func(k, v []byte) error {
		rest := k[1:]
		i := bytes.IndexByte(rest, 0)
		if i < 0 || len(rest) != i+5 || len(v) != 8 {
			return fmt.Errorf("%w: position record %q", errCorrupt, k)
		}
		tp := TopicPartition{Topic: string(rest[:i]), Partition: int(int32(beU32(rest[i+1:])))}
		e.positions[tp] = int64(beU64(v))
		return nil
	}); err != nil {
		return fmt.Errorf("read positions: %w", err)
	}
	// correlation keys
	if err := e.scan([]byte{pGroup}, func(k, _ []byte) error {
		e.groups.add(string(k[1:]))
		return nil
	}); err != nil {
		return fmt.Errorf("read correlation keys: %w", err)
	}
	// message ids in the retention window
	if err := e.scan([]byte{pDedupe}, func(k, _ []byte) error {
		if len(k) < 5 {
			return fmt.Errorf("%w: dedupe record %q", errCorrupt, k)
		}
		e.dedupeChain(beU32(k[1:5])).add(string(k[5:]))
		return nil
	}); err != nil {
		return fmt.Errorf("read message ids: %w", err)
	}
	return nil
}

func (e *Engine) dedupeChain(d uint32) *bloomChain {
	c := e.dedupe[d]
	if c == nil {
		c = newBloomChain(1 << 18)
		e.dedupe[d] = c
	}
	return c
}

// scan calls fn for every key with the prefix (key and value valid only during the call).
func (e *Engine) scan(prefix []byte, fn func(k, v []byte) error) error {
	it, err := e.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return err
	}
	for it.First(); it.Valid(); it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return err
		}
		if err := fn(it.Key(), v); err != nil {
			it.Close()
			return err
		}
	}
	return it.Close()
}

// Close closes the store. It does not wait for callers; stop Apply/Tick first.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.settle() // the in-flight commit, if any, lands first
	e.closed = true
	e.readMu.Lock()
	e.readClosed = true
	e.readMu.Unlock()
	e.wake()
	for _, t := range e.txns {
		if t != nil {
			t.b.Close()
		}
	}
	err := e.db.Close()
	if lerr := e.lock.Close(); err == nil {
		err = lerr
	}
	if err != nil {
		return fmt.Errorf("close engine store %s: %w", e.opts.Dir, err)
	}
	return nil
}

// ErrClosed is returned by methods called after Close.
var ErrClosed = errors.New("engine is closed")

// Positions returns the next offset to read per topic/partition (last applied
// offset + 1), as stored with the last committed batch.
func (e *Engine) Positions() map[TopicPartition]int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[TopicPartition]int64, len(e.positions))
	for k, v := range e.positions {
		out[k] = v
	}
	return out
}

// FeedNotify returns a channel that is closed after the next commit that
// appends change-feed entries.
//
// The channel is closed (a broadcast: every reader wakes) by the next commit
// that appends change-feed entries, and by Close. Ask for it again each time
// you wait — after Feed returned, before blocking — since a closed channel
// stays closed.
func (e *Engine) FeedNotify() <-chan struct{} {
	e.notifyMu.Lock()
	defer e.notifyMu.Unlock()
	if e.notify == nil {
		e.notify = make(chan struct{})
	}
	return e.notify
}

// wake closes the current FeedNotify channel.
func (e *Engine) wake() {
	e.notifyMu.Lock()
	if e.notify != nil {
		close(e.notify)
		e.notify = nil
	}
	e.notifyMu.Unlock()
}

// CacheLen reports how many correlation-key groups are in memory.
func (e *Engine) CacheLen() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.cache)
}

// BloomBytes reports the memory held by the Bloom filters of correlation
// keys and message ids.
func (e *Engine) BloomBytes() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := e.groups.bytes()
	for _, c := range e.dedupe {
		n += c.bytes()
	}
	return n
}

// --- cache ---

func (e *Engine) lruTouch(g *group) {
	if e.lruHead == g {
		return
	}
	e.lruUnlink(g)
	g.next = e.lruHead
	if e.lruHead != nil {
		e.lruHead.prev = g
	}
	e.lruHead = g
	if e.lruTail == nil {
		e.lruTail = g
	}
}

func (e *Engine) lruUnlink(g *group) {
	if g.prev != nil {
		g.prev.next = g.next
	}
	if g.next != nil {
		g.next.prev = g.prev
	}
	if e.lruHead == g {
		e.lruHead = g.next
	}
	if e.lruTail == g {
		e.lruTail = g.prev
	}
	g.prev, g.next = nil, nil
}

func (e *Engine) evict() {
	for len(e.cache) > e.opts.CacheSize && e.lruTail != nil {
		g := e.lruTail
		if g.wrote > e.durable {
			// its last write is still committing: reading it back from the
			// store now would see the state before; evict it later
			return
		}
		e.lruUnlink(g)
		delete(e.cache, g.ck)
	}
}

func (e *Engine) drop(g *group) {
	if e.cache[g.ck] == g {
		e.lruUnlink(g)
		delete(e.cache, g.ck)
	}
}

// --- process index ---

// procIndex is derived from the latest deployed versions.
type procIndex struct {
	sig    string
	latest map[string]*models.Process
	starts map[string][]startRef // message name → process-level message start events
	names  map[string]bool       // every message name some latest model uses
}

func (e *Engine) refreshProcs() {
	all := e.opts.Processes.LatestAll()
	var sig []byte
	for _, p := range all {
		sig = fmt.Appendf(sig, "%s@%d/%s;", p.ID, p.Version, p.Hash)
	}
	if string(sig) == e.procs.sig && e.procs.latest != nil {
		return
	}
	pi := procIndex{sig: string(sig), latest: map[string]*models.Process{}, starts: map[string][]startRef{}, names: map[string]bool{}}
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	for _, p := range all {
		pi.latest[p.ID] = p
		for _, name := range p.MessageNames() {
			pi.names[name] = true
			for _, s := range p.StartEventsFor(name) {
				pi.starts[name] = append(pi.starts[name], startRef{p: p, el: s})
			}
		}
	}
	e.procs = pi
}

// startRef is a process-level message start event of a latest version.
type startRef struct {
	p  *models.Process
	el *models.Element
}

// process returns the model of an instance.
func (e *Engine) process(pid string, ver int) (*models.Process, error) {
	if p, ok := e.opts.Processes.Get(pid, ver); ok {
		return p, nil
	}
	return nil, fmt.Errorf("process %s version %d is not deployed", pid, ver)
}

func beU32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
func beU64(b []byte) uint64 { return uint64(beU32(b))<<32 | uint64(beU32(b[4:])) }

// pebbleLogger routes Pebble's log lines into slog.
type pebbleLogger struct{ l *slog.Logger }

// Infof logs at debug level: Pebble is chatty about flushes and compactions.
func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug(fmt.Sprintf(format, args...), "source", "pebble")
}

// Errorf logs at error level.
func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...), "source", "pebble")
}

// Fatalf logs and panics: Pebble does not continue after a fatal error.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...), "source", "pebble", "fatal", true)
	panic(fmt.Sprintf(format, args...))
}
