package main

import (
	"fmt"
	"time"

	"github.com/tracker-dev/tracker/config"
	"github.com/tracker-dev/tracker/correlate"
	"github.com/tracker-dev/tracker/engine"
	"github.com/tracker-dev/tracker/incidents"
)

// newRedecoder lets incident retries decode the original record again with
// its source's mapping as configured now, so that DECODE_ERROR and
// MISSING_CORRELATION_KEY incidents can be retried after a mapping or
// producer fix.
func newRedecoder(sources []config.Source) (incidents.DecodeFunc, error) {
	byName := map[string]*correlate.Source{}
	for _, cs := range sources {
		s, err := correlate.CompileSource(cs)
		if err != nil {
			return nil, err
		}
		byName[s.Name] = s
	}
	return func(inc incidents.Incident, readAt time.Time) (engine.Message, error) {
		s := byName[inc.Source]
		if s == nil {
			return engine.Message{}, fmt.Errorf("source %q is not configured any more: %w", inc.Source, incidents.ErrNeedsDecode)
		}
		rec := &correlate.Record{
			Topic: inc.Event.Topic, Partition: inc.Event.Partition, Offset: inc.Event.Offset,
			Key: inc.Event.Key, Value: inc.Event.Raw, Headers: inc.Event.Headers, Time: inc.EventTime,
		}
		return s.Decode(rec, readAt), nil
	}, nil
}
