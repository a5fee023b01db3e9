package engine

import (
	"errors"
	"testing"
	"time"
)

func TestStats(t *testing.T) {
	h := newHarness(t, "order-fulfillment.bpmn")
	before, err := h.e.Stats()
	if err != nil {
		t.Fatal(err)
	}
	h.apply(msg("OrderPlaced", "A", "a1", 0), msg("OrderPlaced", "B", "b1", time.Minute))
	after, err := h.e.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if after.CachedGroups != 2 {
		t.Errorf("cached groups %d, want 2", after.CachedGroups)
	}
	if after.WALBytes <= before.WALBytes {
		t.Errorf("WAL bytes %d after a batch, %d before", after.WALBytes, before.WALBytes)
	}
	if after.FlushedBytes != 0 || after.Flushes != 0 {
		t.Errorf("flushed before any flush: %+v", after)
	}
	if err := h.e.db.Flush(); err != nil {
		t.Fatal(err)
	}
	flushed, err := h.e.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if flushed.Flushes <= after.Flushes || flushed.FlushedBytes <= after.FlushedBytes || flushed.L0Files == 0 || flushed.DiskBytes == 0 {
		t.Errorf("after a flush: %+v (before %+v)", flushed, after)
	}
	h.e.Close()
	if _, err := h.e.Stats(); !errors.Is(err, ErrClosed) {
		t.Errorf("Stats after Close: %v, want ErrClosed", err)
	}
}
