package correlate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/tidwall/gjson"

	"github.com/tracker-dev/tracker/config"
	"github.com/tracker-dev/tracker/engine"
	"github.com/tracker-dev/tracker/jsonpath"
)

// Format is how a source's record values are encoded.
type Format int

// Formats a source accepts (config `format`).
const (
	FormatAuto        Format = iota // CloudEvents when the record says so, plain JSON otherwise
	FormatJSON                      // always plain JSON
	FormatCloudEvents               // CloudEvents, structured or binary mode
)

// ParseFormat parses a config `format` value ("" means auto).
func ParseFormat(s string) (Format, error) {
	switch s {
	case "", "auto":
		return FormatAuto, nil
	case "json":
		return FormatJSON, nil
	case "cloudevents":
		return FormatCloudEvents, nil
	}
	return 0, fmt.Errorf("unknown format %q: use auto, json or cloudevents", s)
}

// DefaultMaxEventBytes is the record size above which a record becomes a
// DECODE_ERROR when a source does not set max_event_bytes.
const DefaultMaxEventBytes = 1 << 20

// DefaultBufferTTL is how long an early message waits for its instance when a
// source leaves buffer_ttl out.
const DefaultBufferTTL = time.Hour

// contentTypeCE is the content type of a structured-mode CloudEvent.
const contentTypeCE = "application/cloudevents"

// mode is how one record is encoded.
type mode int

const (
	modePlain      mode = iota // plain JSON
	modeStructured             // CloudEvents structured mode: the value is the JSON envelope
	modeBinary                 // CloudEvents binary mode: ce_* headers, the value is the data
)

// field is one mapped field: the configured path (nil = default) and the
// pre-computed gjson paths used to evaluate it.
type field struct {
	name  string         // config key, for messages
	path  *jsonpath.Path // nil: the default applies
	gjson string         // path on a JSON value ("" = the whole value)
	// For CloudEvents in binary mode: attr is the attribute a one-segment path
	// names; dataPath is the rest of a path starting at `data`.
	attr     string
	isData   bool
	dataPath string
	// top is the index of a one-segment path's field in [Source.top]: it is
	// read from the one scan of the value's members (-1: not one segment).
	top int
}

func compileField(key, expr string) (field, error) {
	f := field{name: key, top: -1}
	if expr == "" {
		return f, nil
	}
	p, err := jsonpath.Compile(expr)
	if err != nil {
		return f, fmt.Errorf("%s: %w", key, err)
	}
	f.path, f.gjson = p, p.GJSON()
	if segs := p.Segments(); p.Origin() == jsonpath.Value && len(segs) > 0 && segs[0].Index < 0 {
		if segs[0].Field == "data" {
			f.isData, f.dataPath = true, p.TailGJSON(1)
		} else if len(segs) == 1 {
			f.attr = strings.ToLower(segs[0].Field)
		}
	}
	return f, nil
}

// Source is one compiled `sources` entry: how records of its topics become
// engine messages. It is safe for concurrent use.
type Source struct {
	Name       string
	Topics     []string
	Format     Format
	BufferTTL  time.Duration
	MaxBytes   int
	DeadLetter string
	start      map[string]string
	msgName    field
	key        field
	id         field
	time       field
	vars       field
	// top names the value's top-level members decoding reads: the
	// CloudEvents attributes, then the one-segment paths' fields. One pass
	// over the value finds them all (see [event.scan]).
	top []string
}

// ceAttrs are the CloudEvents attributes decoding reads; they come first in
// [Source.top].
var ceAttrs = []string{"specversion", "id", "source", "type", "time", "datacontenttype", "data", "correlationkey", "traceid", "subject"}

// maxTop bounds [Source.top]; a source with more distinct one-segment
// fields reads the rest with a lookup each.
const maxTop = 16

// CompileSource checks and compiles one config source, applying the
// documented defaults to zero values.
func CompileSource(cs config.Source) (*Source, error) {
	s := &Source{
		Name:       cs.Name,
		Topics:     cs.Topics,
		BufferTTL:  DefaultBufferTTL,
		MaxBytes:   int(cs.MaxEventBytes),
		DeadLetter: cs.DeadLetter,
		start:      cs.Start,
	}
	if s.Name == "" && len(cs.Topics) > 0 {
		s.Name = cs.Topics[0]
	}
	if cs.BufferTTL != nil {
		s.BufferTTL = cs.BufferTTL.Duration
	}
	if s.MaxBytes <= 0 {
		s.MaxBytes = DefaultMaxEventBytes
	}
	var errs []error
	var err error
	if s.Format, err = ParseFormat(cs.Format); err != nil {
		errs = append(errs, fmt.Errorf("format: %w", err))
	}
	for _, f := range []struct {
		dst       *field
		key, expr string
	}{
		{&s.msgName, "message_name", cs.MessageName},
		{&s.key, "correlation_key", cs.CorrelationKey},
		{&s.id, "message_id", cs.MessageID},
		{&s.time, "event_time", cs.EventTime},
		{&s.vars, "variables", cs.Variables},
	} {
		if *f.dst, err = compileField(f.key, f.expr); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("source %q: %w", s.Name, err)
	}
	s.top = slices.Clone(ceAttrs)
	for _, f := range []*field{&s.msgName, &s.key, &s.id, &s.time, &s.vars} {
		if f.path == nil || f.path.Origin() != jsonpath.Value {
			continue
		}
		if segs := f.path.Segments(); len(segs) == 1 && segs[0].Index < 0 {
			i := slices.Index(s.top, segs[0].Field)
			if i < 0 && len(s.top) < maxTop {
				i = len(s.top)
				s.top = append(s.top, segs[0].Field)
			}
			f.top = i
		}
	}
	return s, nil
}

// Record is the part of a Kafka record that decoding reads.
type Record struct {
	Topic     string
	Partition int
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []engine.Header
	Time      time.Time // the record timestamp
}

// event is one record during decoding.
type event struct {
	rec  *Record
	mode mode
	// val is the record value as a string sharing its bytes: gjson results
	// point into it without copies. Record values are never modified; what
	// decoding keeps in the message is copied (see [cloneResult]).
	val string
	// Top-level members of a JSON object value, by index in src.top, when
	// scanned is set.
	src     *Source
	scanned bool
	members [maxTop]gjson.Result
}

// stringOf is b as a string sharing its bytes; b must not change afterwards.
func stringOf(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// scan reads the members of the value (a valid JSON object) in one pass:
// the first occurrence of each name in src.top, like a gjson lookup.
func (e *event) scan() {
	names := e.src.top
	left := len(names)
	if left == 0 {
		return
	}
	gjson.Parse(e.val).ForEach(func(k, v gjson.Result) bool {
		for i, n := range names {
			if k.Str == n && !e.members[i].Exists() {
				e.members[i] = v
				left--
				break
			}
		}
		return left > 0
	})
	e.scanned = true
}

// member is the top-level member name of a JSON value.
func (e *event) member(name string) gjson.Result {
	if e.scanned {
		if i := slices.Index(e.src.top, name); i >= 0 {
			return e.members[i]
		}
	}
	return gjson.Get(e.val, name)
}

func (e *event) header(name string) ([]byte, bool) {
	for i := range e.rec.Headers {
		if strings.EqualFold(e.rec.Headers[i].Key, name) {
			return e.rec.Headers[i].Value, true
		}
	}
	return nil, false
}

// attr reads a CloudEvents context attribute (or extension).
func (e *event) attr(name string) gjson.Result {
	switch e.mode {
	case modeBinary:
		if v, ok := e.header("ce_" + name); ok {
			// Shares the header's bytes like the value's results; what the
			// message keeps is copied.
			return gjson.Result{Type: gjson.String, Str: stringOf(v)}
		}
		return gjson.Result{}
	case modeStructured:
		return e.member(name)
	}
	return gjson.Result{}
}

// lookup evaluates a configured path on the event.
func (e *event) lookup(f *field) gjson.Result {
	switch f.path.Origin() {
	case jsonpath.Key:
		if e.rec.Key == nil {
			return gjson.Result{}
		}
		return gjson.Result{Type: gjson.String, Str: string(e.rec.Key)}
	case jsonpath.Header:
		if v, ok := e.header(f.path.Header()); ok {
			return gjson.Result{Type: gjson.String, Str: string(v)}
		}
		return gjson.Result{}
	}
	if e.mode == modeBinary {
		switch {
		case f.isData:
			return get(e.val, f.dataPath)
		case f.attr != "":
			return e.attr(f.attr)
		}
		return gjson.Result{}
	}
	if f.top >= 0 && e.scanned {
		return e.members[f.top]
	}
	return get(e.val, f.gjson)
}

// get is gjson.Get where "" means the whole value.
func get(v string, path string) gjson.Result {
	if path == "" {
		return gjson.Parse(v)
	}
	return gjson.Get(v, path)
}

// cloneString copies the text of a result so that the message does
// not keep the record value alive through it.
func cloneString(s string) string { return strings.Clone(s) }

// decodeError is a record that cannot be mapped; it becomes an invalid message.
type decodeError struct {
	reason engine.Reason
	detail string
}

func (d *decodeError) Error() string { return string(d.reason) + ": " + d.detail }

func bad(format string, args ...any) *decodeError {
	return &decodeError{reason: engine.ReasonDecodeError, detail: fmt.Sprintf(format, args...)}
}

// Decode maps one record to an engine message. It never fails: a record that
// cannot be mapped comes back with Invalid and Detail set so the engine records
// it as uncorrelated (DECODE_ERROR, UNKNOWN_MESSAGE when no message name is
// found, MISSING_CORRELATION_KEY). The message keeps the record's key, headers
// and (unless over max_event_bytes) value.
func (s *Source) Decode(rec *Record, readAt time.Time) engine.Message {
	m := engine.Message{
		Source:    s.Name,
		BufferTTL: s.BufferTTL,
		ReadAt:    readAt,
		EventTime: rec.Time,
		Position:  engine.Position{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset},
		Raw:       rec.Value,
		Key:       rec.Key,
		Headers:   rec.Headers,
	}
	if m.EventTime.IsZero() {
		m.EventTime = readAt
	}
	if err := s.decodeInto(&m, rec); err != nil {
		m.Invalid, m.Detail = err.reason, err.detail
	}
	if m.ID == "" && rec.Topic != "" {
		m.ID = rec.Topic + "/" + strconv.Itoa(rec.Partition) + "/" + strconv.FormatInt(rec.Offset, 10)
	}
	return m
}

func (s *Source) decodeInto(m *engine.Message, rec *Record) *decodeError {
	if len(rec.Value) > s.MaxBytes {
		m.Raw = nil // never keep an oversized value in the engine's store
		return bad("record value is %d bytes, over max_event_bytes %d", len(rec.Value), s.MaxBytes)
	}
	e := event{rec: rec, mode: modePlain, val: stringOf(rec.Value), src: s}
	if s.Format != FormatJSON {
		if _, ok := e.header("ce_specversion"); ok {
			e.mode = modeBinary
		} else if ct, ok := e.header("content-type"); ok && bytes.HasPrefix(bytes.ToLower(bytes.TrimSpace(ct)), []byte(contentTypeCE)) {
			e.mode = modeStructured
		}
	}
	// The value must be JSON unless it is the data of a binary-mode event
	// with a non-JSON content type.
	valueIsJSON := e.mode != modeBinary || isJSONContentType(e.attr("datacontenttype").Str)
	if valueIsJSON {
		if err := checkJSON(rec.Value, e.val); err != nil {
			return err
		}
		if e.mode != modeBinary {
			e.scan()
		}
	}
	if e.mode == modePlain && s.Format != FormatJSON && e.member("specversion").Type == gjson.String {
		e.mode = modeStructured
	}
	if s.Format == FormatCloudEvents && e.mode == modePlain {
		return bad("not a CloudEvent: no ce_specversion header and no specversion attribute")
	}
	if e.mode != modePlain {
		if err := checkCloudEvent(&e); err != nil {
			return err
		}
	}
	return s.mapFields(m, &e, valueIsJSON)
}

// mapFields fills the message from the configured paths and the defaults.
// A DECODE_ERROR (wrong type) wins over a missing name, which wins over a
// missing correlation key.
func (s *Source) mapFields(m *engine.Message, e *event, valueIsJSON bool) *decodeError {
	ce := e.mode != modePlain
	// get evaluates a configured path, falling back to the CloudEvents
	// attributes for a path that finds nothing in a CloudEvent.
	get := func(f *field, attrs ...string) (gjson.Result, string) {
		if f.path != nil {
			if r := e.lookup(f); r.Exists() || !ce {
				return r, f.path.String()
			}
		}
		if ce {
			for _, a := range attrs {
				if r := e.attr(a); r.Exists() {
					return r, "CloudEvents attribute " + a
				}
			}
		}
		return gjson.Result{}, ""
	}

	// Event time first: it is used even when the message is invalid.
	if r, where := get(&s.time, "time"); r.Exists() && r.Type != gjson.Null {
		t, err := parseTime(r)
		if err != nil {
			return bad("event_time at %s: %v", where, err)
		}
		m.EventTime = t
	}
	if r, where := get(&s.id, "id"); r.Exists() && r.Type != gjson.Null {
		id, err := scalarString(r)
		if err != nil {
			return bad("message_id at %s: %v", where, err)
		}
		if id != "" {
			m.ID = cloneString(id)
		}
	}
	if err := s.mapVariables(m, e, ce, valueIsJSON); err != nil {
		return err
	}
	var nameErr, keyErr *decodeError
	r, where := get(&s.msgName, "type")
	switch {
	case !r.Exists() || r.Type == gjson.Null || (r.Type == gjson.String && r.Str == ""):
		nameErr = &decodeError{reason: engine.ReasonUnknownMessage, detail: "no message name at " + orDefault(where, s.msgName, "type")}
	case r.Type != gjson.String:
		return bad("message_name at %s is %s, want a string", where, typeName(r))
	default:
		m.Name = cloneString(r.Str)
		m.Start = s.start[m.Name]
	}
	r, where = get(&s.key, "correlationkey", "traceid", "subject")
	switch {
	case !r.Exists() || r.Type == gjson.Null:
		keyErr = &decodeError{reason: engine.ReasonMissingCorrelationKey, detail: "no correlation key at " + orDefault(where, s.key, "correlationkey/traceid/subject")}
	default:
		k, err := scalarString(r)
		if err != nil {
			return bad("correlation_key at %s: %v", where, err)
		}
		if k == "" {
			keyErr = &decodeError{reason: engine.ReasonMissingCorrelationKey, detail: "empty correlation key at " + where}
		}
		m.CorrelationKey = cloneString(k)
	}
	if nameErr != nil {
		return nameErr
	}
	if keyErr != nil {
		return keyErr
	}
	return nil
}

func (s *Source) mapVariables(m *engine.Message, e *event, ce, valueIsJSON bool) *decodeError {
	var r gjson.Result
	var where string
	switch {
	case s.vars.path != nil:
		r, where = e.lookup(&s.vars), s.vars.path.String()
		if !r.Exists() && ce {
			r, where = ceData(e, valueIsJSON), "CloudEvents data"
		}
	case ce:
		r, where = ceData(e, valueIsJSON), "CloudEvents data"
	default:
		r, where = gjson.Parse(e.val), "$"
	}
	switch {
	case !r.Exists() || r.Type == gjson.Null:
		return nil
	case !r.IsObject():
		if ce && s.vars.path == nil {
			return nil // CloudEvents data that is not an object carries no variables
		}
		return bad("variables at %s is %s, want an object", where, typeName(r))
	}
	m.Variables = rawBytes(e.rec.Value, r)
	return nil
}

// ceData is the data of a CloudEvent when it is JSON.
func ceData(e *event, valueIsJSON bool) gjson.Result {
	if e.mode == modeBinary {
		if !valueIsJSON {
			return gjson.Result{}
		}
		return gjson.Parse(e.val)
	}
	if !isJSONContentType(e.member("datacontenttype").Str) {
		return gjson.Result{}
	}
	return e.member("data")
}

// rawBytes returns the bytes of a result, sharing the source when gjson
// reports where it found them.
func rawBytes(src []byte, r gjson.Result) []byte {
	if r.Index > 0 || (r.Index == 0 && len(r.Raw) == len(src)) {
		if end := r.Index + len(r.Raw); end <= len(src) {
			return src[r.Index:end:end]
		}
	}
	return []byte(r.Raw)
}

func orDefault(where string, f field, def string) string {
	if where != "" {
		return where
	}
	if f.path != nil {
		return f.path.String()
	}
	if def == "type" {
		return "message_name (not configured)"
	}
	return "correlation_key (not configured)"
}

// checkJSON reports a value that is not a UTF-8 JSON object (vs is v as a
// string).
func checkJSON(v []byte, vs string) *decodeError {
	if len(bytes.TrimSpace(v)) == 0 {
		return bad("empty record value")
	}
	if !utf8.Valid(v) {
		for i := 0; i < len(v); {
			r, n := utf8.DecodeRune(v[i:])
			if r == utf8.RuneError && n <= 1 {
				return bad("invalid UTF-8 at byte %d", i)
			}
			i += n
		}
	}
	if !gjson.ValidBytes(v) {
		var raw json.RawMessage
		var se *json.SyntaxError
		if err := json.Unmarshal(v, &raw); errors.As(err, &se) {
			return bad("invalid JSON at byte %d: %v", max(se.Offset-1, 0), err) // 0-based, like the UTF-8 position
		}
		return bad("invalid JSON")
	}
	if r := gjson.Parse(vs); !r.IsObject() {
		return bad("record value is %s, want a JSON object", typeName(r))
	}
	return nil
}

// checkCloudEvent checks the required attributes of a CloudEvent.
func checkCloudEvent(e *event) *decodeError {
	for _, a := range []string{"specversion", "id", "source", "type"} {
		r := e.attr(a)
		if !r.Exists() {
			return bad("CloudEvent without required attribute %s", a)
		}
		if r.Type != gjson.String || r.Str == "" {
			return bad("CloudEvent attribute %s is %s, want a non-empty string", a, typeName(r))
		}
		if e.mode == modeBinary && !utf8.ValidString(r.Str) {
			return bad("CloudEvent attribute %s (header ce_%s) is not valid UTF-8", a, a)
		}
	}
	if v := e.attr("specversion").Str; !strings.HasPrefix(v, "1.") {
		return bad("CloudEvent specversion %q not supported, want 1.0", v)
	}
	return nil
}

func isJSONContentType(ct string) bool {
	if ct == "" {
		return true
	}
	ct = strings.ToLower(ct)
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.TrimSpace(ct)
	return ct == "application/json" || ct == "text/json" || strings.HasSuffix(ct, "+json")
}

// scalarString accepts a string or a number (as written) as an identifier.
func scalarString(r gjson.Result) (string, error) {
	switch r.Type {
	case gjson.String:
		return r.Str, nil
	case gjson.Number:
		return r.Raw, nil
	}
	return "", fmt.Errorf("is %s, want a string or number", typeName(r))
}

// parseTime accepts RFC 3339 text or a number of Unix milliseconds.
func parseTime(r gjson.Result) (time.Time, error) {
	switch r.Type {
	case gjson.String:
		t, err := time.Parse(time.RFC3339Nano, r.Str)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time", r.Str)
		}
		return t, nil
	case gjson.Number:
		ms, err := strconv.ParseInt(r.Raw, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("%s is not a whole number of Unix milliseconds", r.Raw)
		}
		return time.UnixMilli(ms).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("is %s, want an RFC 3339 string or Unix milliseconds", typeName(r))
}

func typeName(r gjson.Result) string {
	switch {
	case r.IsObject():
		return "an object"
	case r.IsArray():
		return "an array"
	case r.IsBool():
		return "a boolean"
	}
	switch r.Type {
	case gjson.Number:
		return "a number"
	case gjson.String:
		return "a string"
	case gjson.Null:
		return "null"
	}
	return "missing"
}
