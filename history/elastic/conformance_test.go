package elastic

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	es "github.com/olivere/elastic/v7"

	"github.com/tracker-dev/tracker/history"
	"github.com/tracker-dev/tracker/history/historytest"
)

// TestConformance runs the shared history suite against a real cluster.
// Nothing can be installed where CI runs, so it needs TRACKER_TEST_ES_URL
// (optionally with user:password@ in the URL, or TRACKER_TEST_ES_API_KEY).
// Every subtest gets its own index prefix and deletes its indices and
// templates afterwards.
func TestConformance(t *testing.T) {
	url := os.Getenv("TRACKER_TEST_ES_URL")
	if url == "" {
		t.Skip("no cluster: run TRACKER_TEST_ES_URL=http://127.0.0.1:9200 go test ./history/elastic -run TestConformance " +
			"(see docs/ELASTICSEARCH.md for a one-line Elasticsearch or OpenSearch container)")
	}
	run := fmt.Sprintf("trackertest-%d", time.Now().UnixNano())
	var n atomic.Int64
	historytest.Run(t, func(t *testing.T) history.Backend {
		ctx := context.Background()
		zero := 0
		o := Options{
			URLs:        []string{url},
			IndexPrefix: fmt.Sprintf("%s-%d", run, n.Add(1)),
			APIKey:      os.Getenv("TRACKER_TEST_ES_API_KEY"),
			CAFile:      os.Getenv("TRACKER_TEST_ES_CA_FILE"),
			Replicas:    &zero, // a single-node test cluster stays green
		}
		b, err := Open(ctx, o)
		if err != nil {
			t.Fatalf("open %s: %v", url, err)
		}
		t.Cleanup(func() { dropIndices(t, b.c, b.n) })
		return b
	})
}

// dropIndices deletes a test prefix's indices (by name: Elasticsearch 8
// refuses wildcard deletes by default) and its index templates.
func dropIndices(t *testing.T, c *es.Client, n names) {
	ctx := context.Background()
	got, err := c.IndexGet(n.prefix + "-*").Do(ctx)
	if err != nil {
		t.Errorf("list test indices: %v", err)
		return
	}
	var indices []string
	for name := range got {
		indices = append(indices, name)
	}
	if len(indices) > 0 {
		if _, err := c.DeleteIndex(indices...).Do(ctx); err != nil {
			t.Errorf("delete test indices %v: %v", indices, err)
		}
	}
	for _, kind := range kinds {
		if _, err := c.IndexDeleteIndexTemplate(n.template(kind)).Do(ctx); err != nil {
			t.Errorf("delete template %s: %v", n.template(kind), err)
		}
	}
}
