package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Deployment describes one deployed version of a process.
type Deployment struct {
	ProcessID  string    `json:"processId"`
	Name       string    `json:"name,omitempty"`
	Version    int       `json:"version"`
	Key        int64     `json:"key"`  // deployment key, unique in the repository
	Hash       string    `json:"hash"` // sha256 of the deployed file, hex
	File       string    `json:"file,omitempty"`
	DeployedAt time.Time `json:"deployedAt"`
}

// RepositoryOptions configure a [Repository]. The zero value is ready to use.
type RepositoryOptions struct {
	// MaxBytes is the largest model file accepted; 0 means DefaultMaxBytes.
	MaxBytes int64
	// Now returns the deployment time; nil means time.Now.
	Now func() time.Time
	// Logger receives one line per new deployment; nil discards.
	Logger *slog.Logger
}

// Repository stores deployed process versions in a directory:
//
//	<dir>/index.json          every deployment, in deploy order
//	<dir>/xml/<sha256>.bpmn   each distinct deployed file, as-is
//
// Both are written to a temporary file, synced and renamed, so a crash
// leaves either the old or the new state. All methods are safe for
// concurrent use; returned processes are shared and must not be modified.
type Repository struct {
	dir  string
	opts RepositoryOptions
	log  *slog.Logger

	mu          sync.RWMutex
	deployments []Deployment
	versions    map[string][]*Process // by process id; index = version-1
	xml         map[string][]byte     // by hash
	nextKey     int64
	starts      map[string][]*Process // message name -> latest processes starting on it
	catches     map[string][]*Process // message name -> latest processes catching it
	used        map[string]bool       // message names any deployed version uses
}

type repoIndex struct {
	Deployments []Deployment `json:"deployments"`
}

// OpenRepository opens (creating if needed) the repository in dir and
// re-parses every stored version.
func OpenRepository(dir string, opts RepositoryOptions) (*Repository, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Repository{dir: dir, opts: opts, log: log.With("component", "models"),
		versions: map[string][]*Process{}, xml: map[string][]byte{}, nextKey: 1}
	if err := os.MkdirAll(filepath.Join(dir, "xml"), 0o755); err != nil {
		return nil, fmt.Errorf("open model repository %s: %w", dir, err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if errors.Is(err, os.ErrNotExist) {
		r.reindex()
		return r, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open model repository %s: %w", dir, err)
	}
	var idx repoIndex
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, fmt.Errorf("open model repository %s: read index.json: %w", dir, err)
	}
	parsed := map[string]*Definitions{}
	for _, d := range idx.Deployments {
		defs, ok := parsed[d.Hash]
		if !ok {
			data, err := os.ReadFile(r.xmlPath(d.Hash))
			if err != nil {
				return nil, fmt.Errorf("open model repository %s: %s version %d: %w", dir, d.ProcessID, d.Version, err)
			}
			var problems []Problem
			defs, problems = Parse(d.File, data, Options{MaxBytes: int64(len(data))})
			if err := Errors(problems); err != nil {
				return nil, fmt.Errorf("open model repository %s: %s version %d no longer parses: %w", dir, d.ProcessID, d.Version, err)
			}
			if defs.Hash != d.Hash {
				return nil, fmt.Errorf("open model repository %s: %s has hash %s, index says %s", dir, r.xmlPath(d.Hash), defs.Hash, d.Hash)
			}
			parsed[d.Hash] = defs
			r.xml[d.Hash] = data
		}
		p := findProcess(defs, d.ProcessID)
		if p == nil {
			return nil, fmt.Errorf("open model repository %s: %s version %d is missing from its file", dir, d.ProcessID, d.Version)
		}
		if want := len(r.versions[d.ProcessID]) + 1; d.Version != want {
			return nil, fmt.Errorf("open model repository %s: %s has version %d where %d was expected", dir, d.ProcessID, d.Version, want)
		}
		stamp(p, d)
		r.versions[d.ProcessID] = append(r.versions[d.ProcessID], p)
		r.deployments = append(r.deployments, d)
		r.nextKey = max(r.nextKey, d.Key+1)
	}
	r.reindex()
	return r, nil
}

func findProcess(defs *Definitions, id string) *Process {
	for _, p := range defs.Processes {
		if p.ID == id {
			return p
		}
	}
	return nil
}

func stamp(p *Process, d Deployment) {
	p.Version, p.Key, p.DeployedAt, p.File = d.Version, d.Key, d.DeployedAt, d.File
}

func (r *Repository) xmlPath(hash string) string {
	return filepath.Join(r.dir, "xml", hash+".bpmn")
}

// Deploy parses, validates and stores a BPMN file and returns the deployment
// of its first process; see [Repository.DeployAll].
func (r *Repository) Deploy(ctx context.Context, file string, xml []byte) (Deployment, bool, []Problem, error) {
	ds, created, problems, err := r.DeployAll(ctx, file, xml)
	if err != nil {
		return Deployment{}, false, problems, err
	}
	return ds[0], created, problems, nil
}

// DeployAll parses, validates and stores a BPMN file, one deployment per
// executable process in it, in document order. A process whose latest
// version came from byte-identical XML keeps that version (no new
// deployment); otherwise it gets version n+1. created reports whether any
// new version was stored. When the file has error problems nothing is
// stored and the error wraps [ErrInvalid]; warnings come back either way.
func (r *Repository) DeployAll(ctx context.Context, file string, xml []byte) ([]Deployment, bool, []Problem, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, nil, fmt.Errorf("deploy %s: %w", file, err)
	}
	defs, problems := Parse(file, xml, Options{MaxBytes: r.opts.MaxBytes})
	if HasErrors(problems) {
		return nil, false, problems, fmt.Errorf("deploy %s: %w", file, ErrInvalid)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.opts.Now().UTC()
	var out, added []Deployment
	key := r.nextKey
	for _, p := range defs.Processes {
		if vs := r.versions[p.ID]; len(vs) > 0 && vs[len(vs)-1].Hash == defs.Hash {
			out = append(out, r.deploymentOf(p.ID, len(vs)))
			continue
		}
		d := Deployment{ProcessID: p.ID, Name: p.Name, Version: len(r.versions[p.ID]) + 1, Key: key,
			Hash: defs.Hash, File: file, DeployedAt: now}
		key++
		stamp(p, d)
		out = append(out, d)
		added = append(added, d)
	}
	if len(added) == 0 {
		return out, false, problems, nil
	}
	if _, stored := r.xml[defs.Hash]; !stored {
		if err := writeAtomic(r.xmlPath(defs.Hash), xml); err != nil {
			return nil, false, problems, fmt.Errorf("deploy %s: store model: %w", file, err)
		}
	}
	next := repoIndex{Deployments: append(slices.Clip(r.deployments), added...)}
	raw, err := json.MarshalIndent(next, "", "  ")
	if err != nil {
		return nil, false, problems, fmt.Errorf("deploy %s: encode index: %w", file, err)
	}
	if err := writeAtomic(filepath.Join(r.dir, "index.json"), raw); err != nil {
		return nil, false, problems, fmt.Errorf("deploy %s: write index: %w", file, err)
	}
	// Persisted: publish.
	r.deployments = next.Deployments
	r.xml[defs.Hash] = xml
	r.nextKey = key
	for _, p := range defs.Processes {
		if p.Version == len(r.versions[p.ID])+1 {
			r.versions[p.ID] = append(r.versions[p.ID], p)
		}
	}
	r.reindex()
	for _, d := range added {
		r.log.Info("deployed model", "process", d.ProcessID, "version", d.Version, "key", d.Key, "file", file)
	}
	return out, true, problems, nil
}

// writeAtomic writes data to path through a synced temporary file and a rename.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// deploymentOf finds the deployment record of a version; the caller holds mu.
func (r *Repository) deploymentOf(id string, version int) Deployment {
	for _, d := range r.deployments {
		if d.ProcessID == id && d.Version == version {
			return d
		}
	}
	return Deployment{}
}

// reindex rebuilds the message lookups; the caller holds mu for writing.
func (r *Repository) reindex() {
	r.starts, r.catches, r.used = map[string][]*Process{}, map[string][]*Process{}, map[string]bool{}
	for _, id := range sortedIDs(r.versions) {
		vs := r.versions[id]
		for _, p := range vs {
			for _, name := range p.MessageNames() {
				r.used[name] = true
			}
		}
		latest := vs[len(vs)-1]
		for _, name := range latest.MessageNames() {
			if len(latest.StartEventsFor(name)) > 0 {
				r.starts[name] = append(r.starts[name], latest)
			}
			if len(latest.CatchEventsFor(name)) > 0 {
				r.catches[name] = append(r.catches[name], latest)
			}
		}
	}
}

func sortedIDs(m map[string][]*Process) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Latest returns the newest version of a process.
func (r *Repository) Latest(processID string) (*Process, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	vs := r.versions[processID]
	if len(vs) == 0 {
		return nil, false
	}
	return vs[len(vs)-1], true
}

// Get returns one version of a process.
func (r *Repository) Get(processID string, version int) (*Process, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	vs := r.versions[processID]
	if version < 1 || version > len(vs) {
		return nil, false
	}
	return vs[version-1], true
}

// LatestProcesses returns the newest version of every process, sorted by id.
func (r *Repository) LatestProcesses() []*Process {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*Process, 0, len(r.versions))
	for _, id := range sortedIDs(r.versions) {
		vs := r.versions[id]
		out = append(out, vs[len(vs)-1])
	}
	return out
}

// LatestAll is [Repository.LatestProcesses] under the name the engine's
// ProcessSource interface uses.
func (r *Repository) LatestAll() []*Process { return r.LatestProcesses() }

// MaxBytes is the largest model file the repository accepts.
func (r *Repository) MaxBytes() int64 { return Options{MaxBytes: r.opts.MaxBytes}.maxBytes() }

// List returns every deployment, sorted by process id and version.
func (r *Repository) List() []Deployment {
	r.mu.RLock()
	out := slices.Clone(r.deployments)
	r.mu.RUnlock()
	slices.SortFunc(out, func(a, b Deployment) int {
		if c := strings.Compare(a.ProcessID, b.ProcessID); c != 0 {
			return c
		}
		return a.Version - b.Version
	})
	return out
}

// Versions returns the deployments of one process, oldest first.
func (r *Repository) Versions(processID string) []Deployment {
	var out []Deployment
	for _, d := range r.List() {
		if d.ProcessID == processID {
			out = append(out, d)
		}
	}
	return out
}

// XML returns the file a process version was deployed from, as-is.
func (r *Repository) XML(processID string, version int) ([]byte, bool) {
	p, ok := r.Get(processID, version)
	if !ok {
		return nil, false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	data, ok := r.xml[p.Hash]
	return data, ok
}

// StartingOn returns the latest processes that a message with this name
// starts (process-level message start events), sorted by process id.
func (r *Repository) StartingOn(messageName string) []*Process {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Clone(r.starts[messageName])
}

// Catching returns the latest processes in which a running instance can
// wait for a message with this name, sorted by process id. Instances on
// older versions are found through [Repository.Get] and
// [Process.CatchEventsFor].
func (r *Repository) Catching(messageName string) []*Process {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Clone(r.catches[messageName])
}

// UsesMessage reports whether any deployed version of any process starts on
// or catches the message name (else an event is UNKNOWN_MESSAGE).
func (r *Repository) UsesMessage(messageName string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.used[messageName]
}
