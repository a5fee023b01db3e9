package elastic

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	es "github.com/olivere/elastic/v7"

	"github.com/tracker-dev/tracker/history"
)

// Backend is the Elasticsearch (or OpenSearch) read model. It satisfies
// [history.Backend]; build it with [Open].
type Backend struct {
	c   *es.Client
	o   Options
	n   names
	log *slog.Logger

	applyMu sync.Mutex        // one Apply at a time; guards bulk
	bulk    *es.BulkProcessor // started by the first Apply, stopped by Close

	errMu     sync.Mutex
	bulkErr   error           // first bulk failure since the current Apply started
	failed    int             // documents that failed in it
	applyDone <-chan struct{} // Done of the current Apply's context: retries stop when it closes

	closing atomic.Bool // set by Close: leftover documents get one attempt, no retries
}

var _ history.Backend = (*Backend)(nil)

// Open validates o, connects and installs the index templates and the
// non-event indices (an existing index is kept as it is). It starts no
// goroutine of its own; the BulkProcessor's workers start with the first
// Apply and stop in Close. With Options.Sniff or Options.Healthcheck the
// client library runs its sniffer and health checker until Close.
func Open(ctx context.Context, o Options) (*Backend, error) {
	return open(ctx, o, true)
}

// open is Open with the template and index setup optional (tests of other
// requests skip it).
func open(ctx context.Context, o Options, setup bool) (*Backend, error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	c, err := newClient(ctx, o)
	if err != nil {
		return nil, err
	}
	b := &Backend{c: c, o: o, n: names{o.IndexPrefix}, log: o.Logger.With("component", "history/elastic")}
	if !setup {
		return b, nil
	}
	if err := b.setup(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	return b, nil
}

// setup installs one index template per kind and creates the single index
// of every kind but events (daily event indices are created by the first
// write to them, from the template, with the alias).
func (b *Backend) setup(ctx context.Context) error {
	for _, kind := range kinds {
		name := b.n.template(kind)
		if _, err := b.c.IndexPutIndexTemplate(name).BodyJson(indexTemplate(b.n, kind, b.o)).Do(ctx); err != nil {
			return fmt.Errorf("install index template %s: %w", name, err)
		}
	}
	for _, kind := range kinds {
		if kind == kindEvents {
			continue
		}
		index := b.n.index(kind)
		_, err := b.c.CreateIndex(index).Do(ctx)
		var e *es.Error
		if errors.As(err, &e) && e.Details != nil && e.Details.Type == "resource_already_exists_exception" {
			continue
		}
		if err != nil {
			return fmt.Errorf("create index %s: %w", index, err)
		}
		b.log.Info("created index", "index", index)
	}
	return nil
}

// Apply writes the batch through the BulkProcessor, waits for every document
// to be acknowledged and then records the checkpoint. If any document fails
// (after the processor's retries with backoff) the checkpoint is not written
// and the error says which document failed and why.
func (b *Backend) Apply(ctx context.Context, batch *history.Batch) error {
	b.applyMu.Lock()
	defer b.applyMu.Unlock()
	if batch.Len() > 0 {
		if err := b.write(ctx, batch); err != nil {
			return fmt.Errorf("apply history batch up to %d: %w", batch.Checkpoint, err)
		}
	}
	doc := metaDoc{Checkpoint: batch.Checkpoint, UpdatedAt: b.o.Now().UTC()}
	if _, err := b.c.Index().Index(b.n.index(kindMeta)).Id(checkpointID).BodyJson(doc).Do(ctx); err != nil {
		return fmt.Errorf("record history checkpoint %d: %w", batch.Checkpoint, err)
	}
	return nil
}

func (b *Backend) write(ctx context.Context, batch *history.Batch) error {
	if b.bulk == nil {
		p, err := b.c.BulkProcessor().
			Name("tracker-history").
			Workers(b.o.BulkWorkers).
			BulkActions(b.o.BulkActions).
			BulkSize(b.o.BulkBytes).
			Backoff(backoff{max: b.o.MaxBackoff, retries: b.o.MaxRetries, giveUp: b.giveUp}).
			RetryItemStatusCodes(408, 429, 500, 502, 503, 504).
			After(b.after).
			Do(context.WithoutCancel(ctx))
		if err != nil {
			return fmt.Errorf("start bulk processor: %w", err)
		}
		b.bulk = p
	}
	b.errMu.Lock()
	b.bulkErr, b.failed, b.applyDone = nil, 0, ctx.Done()
	b.errMu.Unlock()

	reqs := make([]es.BulkableRequest, 0, batch.Len())
	add := func(index, id string, doc any) {
		reqs = append(reqs, es.NewBulkIndexRequest().Index(index).Id(id).Doc(doc))
	}
	for _, e := range batch.Events {
		add(b.n.eventIndex(e), e.ID, newEventDoc(e))
	}
	for _, in := range batch.Instances {
		add(b.n.index(kindInstances), strconv.FormatInt(in.Key, 10), newInstanceDoc(in))
	}
	for _, e := range batch.Elements {
		add(b.n.index(kindElements), strconv.FormatInt(e.Key, 10), newElementDoc(e))
	}
	for _, inc := range batch.Incidents {
		add(b.n.index(kindIncidents), inc.ID, inc)
	}
	for _, a := range batch.Actions {
		add(b.n.index(kindActions), a.ID, a)
	}
	var err error
	for _, r := range reqs {
		if err = ctx.Err(); err != nil {
			break
		}
		b.bulk.Add(r)
	}
	// Flush even when ctx ended so that nothing added stays queued.
	if ferr := b.bulk.Flush(); ferr != nil {
		err = errors.Join(err, ferr)
	}
	if err != nil {
		return err
	}
	b.errMu.Lock()
	defer b.errMu.Unlock()
	if b.bulkErr != nil {
		return fmt.Errorf("%d of %d documents not written: %w", b.failed, batch.Len(), b.bulkErr)
	}
	return nil
}

// giveUp tells the bulk backoff to stop retrying: the Apply that waits for
// the retries was cancelled, or the backend is closing (so that Close is
// bounded even when the cluster is down).
func (b *Backend) giveUp() bool {
	if b.closing.Load() {
		return true
	}
	b.errMu.Lock()
	done := b.applyDone
	b.errMu.Unlock()
	select {
	case <-done: // a nil channel (context.Background) never closes
		return true
	default:
		return false
	}
}

// after is the BulkProcessor's callback for every commit.
func (b *Backend) after(_ int64, reqs []es.BulkableRequest, res *es.BulkResponse, err error) {
	b.errMu.Lock()
	defer b.errMu.Unlock()
	if err != nil && !errors.Is(err, es.ErrBulkItemRetry) {
		b.failed += len(reqs)
		if b.bulkErr == nil {
			b.bulkErr = fmt.Errorf("bulk request: %w", err)
		}
		return
	}
	if res == nil {
		return
	}
	for _, item := range res.Failed() {
		b.failed++
		if b.bulkErr == nil {
			ie := &ItemError{Index: item.Index, ID: item.Id, Status: item.Status}
			if item.Error != nil {
				ie.Type, ie.Reason = item.Error.Type, item.Error.Reason
			}
			b.bulkErr = ie
		}
	}
}

// ItemError is a document Elasticsearch refused in a bulk request, after
// retries for the retryable statuses (408, 429, 5xx).
type ItemError struct {
	Index, ID string
	Status    int
	Type      string // e.g. mapper_parsing_exception
	Reason    string
}

// Error implements error.
func (e *ItemError) Error() string {
	return fmt.Sprintf("index %s document %s: status %d: %s: %s", e.Index, e.ID, e.Status, e.Type, e.Reason)
}

// Checkpoint returns the checkpoint recorded by the last successful Apply
// (a realtime get: no refresh needed).
func (b *Backend) Checkpoint(ctx context.Context) (uint64, error) {
	var doc metaDoc
	found, err := b.get(ctx, kindMeta, checkpointID, &doc)
	if err != nil || !found {
		return 0, err
	}
	return doc.Checkpoint, nil
}

// Refresh makes every write so far visible to search (POST _refresh on the
// aliases). Without it, writes become visible within Options.RefreshInterval.
func (b *Backend) Refresh(ctx context.Context) error {
	aliases := make([]string, 0, len(kinds))
	for _, k := range kinds {
		aliases = append(aliases, b.n.alias(k))
	}
	_, err := b.c.PerformRequest(ctx, es.PerformRequestOptions{
		Method: "POST",
		Path:   "/" + strings.Join(aliases, ",") + "/_refresh",
		Params: url.Values{"ignore_unavailable": {"true"}, "allow_no_indices": {"true"}},
	})
	if err != nil {
		return fmt.Errorf("refresh history indices: %w", err)
	}
	return nil
}

// Close stops the BulkProcessor and the client. Documents of a failed Apply
// that the processor still holds get one more attempt, without retries;
// the projector re-applies them from its checkpoint anyway.
func (b *Backend) Close() error {
	b.closing.Store(true)
	b.applyMu.Lock()
	defer b.applyMu.Unlock()
	var err error
	if b.bulk != nil {
		if cerr := b.bulk.Close(); cerr != nil {
			err = fmt.Errorf("stop bulk processor: %w", cerr)
		}
		b.bulk = nil
	}
	b.c.Stop()
	return err
}

// backoff doubles the wait from 100ms (or max/8 if smaller) up to max, for
// at most `retries` retries, and stops early when giveUp says so. Without
// jitter: there is one writer per backend.
type backoff struct {
	max     time.Duration
	retries int
	giveUp  func() bool
}

// Next implements olivere's Backoff.
func (b backoff) Next(retry int) (time.Duration, bool) {
	if retry > b.retries || (b.giveUp != nil && b.giveUp()) {
		return 0, false
	}
	wait := min(100*time.Millisecond, b.max/8)
	for i := 1; i < retry && wait < b.max; i++ {
		wait *= 2
	}
	return min(wait, b.max), true
}
