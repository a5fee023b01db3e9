package incidents

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tracker-dev/tracker/engine"
)

// Correlator runs correlation again, now, for an incident's original event,
// as message messageID (see [RetryMessageID]). It returns the engine's
// outcome once the effects are durable. [EngineCorrelator] is the one for the
// embedded engine.
type Correlator interface {
	Retry(ctx context.Context, inc Incident, messageID string) (engine.Outcome, error)
}

// Applier applies messages; *engine.Engine satisfies it.
type Applier interface {
	Apply(ctx context.Context, batch []engine.Message) ([]engine.Outcome, error)
}

// DecodeFunc turns an incident's original event into a message again, the
// way its source decodes records (correlate: Source.Decode over a Record made
// of ev.Raw, ev.Key, ev.Headers and the position). It is given the incident
// so that it can pick the source by inc.Source.
type DecodeFunc func(inc Incident, readAt time.Time) (engine.Message, error)

// EngineCorrelator re-applies an incident's original event to the engine.
// With Decode set the raw record is decoded again, so a fixed source mapping
// takes effect; without it (or without a stored record value) the message is
// rebuilt from what the incident stores (name, correlation key, event time,
// variables), which serves every reason except DECODE_ERROR and
// MISSING_CORRELATION_KEY.
//
// The retry message has the incident's source, no Kafka position (it must
// not move the source's stored offsets) and ReadAt = now, so a buffer TTL
// counts from the retry.
type EngineCorrelator struct {
	Engine Applier
	Decode DecodeFunc       // nil: rebuild from the stored fields
	Clock  func() time.Time // nil = time.Now
}

// ErrNeedsDecode is returned by EngineCorrelator without a DecodeFunc (or
// without the source's decoder) for an event that did not decode in the first
// place: there is nothing to correlate until the record is decoded again.
var ErrNeedsDecode = errors.New("the event did not decode; retrying it needs the source's decoder")

// Retry implements [Correlator].
func (c *EngineCorrelator) Retry(ctx context.Context, inc Incident, messageID string) (engine.Outcome, error) {
	if c.Engine == nil {
		return engine.Outcome{}, errors.New("engine correlator: Engine is nil")
	}
	now := time.Now()
	if c.Clock != nil {
		now = c.Clock()
	}
	var m engine.Message
	if c.Decode != nil && len(inc.Event.Raw) > 0 {
		var err error
		if m, err = c.Decode(inc, now); err != nil {
			return engine.Outcome{}, fmt.Errorf("decode original event of incident %s: %w", inc.ID, err)
		}
	} else {
		switch engine.Reason(inc.Reason) {
		case engine.ReasonDecodeError, engine.ReasonMissingCorrelationKey:
			return engine.Outcome{}, fmt.Errorf("incident %s (%s): %w", inc.ID, inc.Reason, ErrNeedsDecode)
		}
		m = engine.Message{
			Name: inc.MessageName, CorrelationKey: inc.CorrelationKey, EventTime: inc.EventTime,
			Variables: inc.Event.Variables, Raw: inc.Event.Raw, Key: inc.Event.Key, Headers: inc.Event.Headers,
		}
	}
	m.ID = messageID
	if m.Source == "" {
		m.Source = inc.Source
	}
	m.ReadAt = now
	m.Position = engine.Position{}
	if m.EventTime.IsZero() {
		m.EventTime = inc.EventTime
	}
	outs, err := c.Engine.Apply(ctx, []engine.Message{m})
	if err != nil {
		return engine.Outcome{}, fmt.Errorf("apply retry %s: %w", messageID, err)
	}
	if len(outs) != 1 {
		return engine.Outcome{}, fmt.Errorf("apply retry %s: engine returned %d outcomes for one message", messageID, len(outs))
	}
	return outs[0], nil
}
