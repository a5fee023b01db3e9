package correlate

import (
	"context"
	"fmt"
	"strings"

	"github.com/tracker-dev/tracker/engine"
)

// Problem is one thing wrong with an HTTP-ingested event.
type Problem struct {
	Index   int    // position in the batch (0 for a single event)
	Element string // what is wrong, e.g. "events[2].type"
	Message string
}

// InvalidEventsError reports events that are not valid CloudEvents; nothing
// of the request was applied.
type InvalidEventsError struct{ Problems []Problem }

func (e *InvalidEventsError) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Element + ": " + p.Message
	}
	return "invalid events: " + strings.Join(msgs, "; ")
}

// TooLargeError reports an event over the HTTP max_event_bytes.
type TooLargeError struct {
	Index       int
	Size, Limit int
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("event %d is %d bytes, over max_event_bytes %d", e.Index, e.Size, e.Limit)
}

// MaxRequestBytes is the largest HTTP ingestion request body accepted.
func (c *Consumer) MaxRequestBytes() int64 { return c.maxReq }

// IngestHTTP maps CloudEvents (structured mode JSON, one per element) with the
// CloudEvents defaults and applies them through the consumer's pipeline,
// returning one outcome per event once they are durable. Events that are not
// valid CloudEvents fail the whole request with [*InvalidEventsError]; an
// event over max_event_bytes with [*TooLargeError]. When the pipeline is full
// it returns [ErrSaturated] at once. An event without a correlation key is
// applied and comes back uncorrelated (MISSING_CORRELATION_KEY).
func (c *Consumer) IngestHTTP(ctx context.Context, events [][]byte) ([]engine.Outcome, error) {
	if len(events) == 0 {
		return nil, nil
	}
	now := c.clock()
	msgs := make([]engine.Message, len(events))
	var problems []Problem
	for i, ev := range events {
		if len(ev) > c.httpSrc.MaxBytes {
			return nil, &TooLargeError{Index: i, Size: len(ev), Limit: c.httpSrc.MaxBytes}
		}
		msgs[i] = c.httpSrc.Decode(&Record{Value: ev, Time: now}, now)
		c.refine(&msgs[i])
		if msgs[i].Invalid == engine.ReasonDecodeError {
			el := "event"
			if len(events) > 1 {
				el = fmt.Sprintf("events[%d]", i)
			}
			problems = append(problems, Problem{Index: i, Element: el, Message: msgs[i].Detail})
		}
	}
	if len(problems) > 0 {
		return nil, &InvalidEventsError{Problems: problems}
	}
	if !c.running.Load() {
		return nil, ErrStopped
	}
	r := &httpReq{msgs: msgs, outs: make([]engine.Outcome, len(msgs)), left: len(msgs), done: make(chan struct{})}
	select {
	case c.httpCh <- r:
	default:
		c.m.saturated.Inc()
		return nil, ErrSaturated
	}
	select {
	case <-r.done:
		if r.err != nil {
			return nil, r.err
		}
		return r.outs, nil
	case <-c.stopped:
		select {
		case <-r.done:
			if r.err != nil {
				return nil, r.err
			}
			return r.outs, nil
		default:
			return nil, ErrStopped
		}
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for ingested events: %w", ctx.Err())
	}
}
