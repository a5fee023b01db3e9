package engine

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// Outbox entries (and given-up actions) are stored in the binary record
// format below; the relay reads every one of them, and JSON decoding was a
// third of its CPU. Entries written as JSON by earlier versions (they start
// with '{') still decode.
const recActionV1 = 1

func encodeAction(buf []byte, a *Action) []byte {
	e := enc{b: buf[:0]}
	e.uvarint(recActionV1)
	e.uvarint(a.Seq)
	e.str(a.ID)
	e.str(a.Type)
	e.str(a.Target)
	e.str(a.ProcessID)
	e.int(a.Version)
	e.varint(a.InstanceKey)
	e.str(a.CorrelationKey)
	e.str(a.ElementID)
	e.time(a.RaisedAt)
	if a.DueAt != nil {
		e.bool(true)
		e.time(*a.DueAt)
	} else {
		e.bool(false)
	}
	e.bytes(a.Variables)
	e.uvarint(uint64(len(a.Headers)))
	for _, k := range sortedKeys(a.Headers) {
		e.str(k)
		e.str(a.Headers[k])
	}
	e.int(a.Attempts)
	e.int(a.Requeued)
	e.str(string(a.State))
	e.str(a.LastError)
	return e.b
}

func decodeAction(b []byte) (Action, error) {
	var a Action
	if len(b) > 0 && b[0] == '{' {
		if err := json.Unmarshal(b, &a); err != nil {
			return a, fmt.Errorf("%w: %v", errCorrupt, err)
		}
		return a, nil
	}
	d := dec{b: b}
	if v := d.uvarint(); v != recActionV1 {
		return a, fmt.Errorf("%w: action record version %d", errCorrupt, v)
	}
	a.Seq = d.uvarint()
	a.ID = d.str()
	a.Type = d.str()
	a.Target = d.str()
	a.ProcessID = d.str()
	a.Version = d.int()
	a.InstanceKey = d.varint()
	a.CorrelationKey = d.str()
	a.ElementID = d.str()
	a.RaisedAt = d.time()
	if d.bool() {
		due := d.time()
		a.DueAt = &due
	}
	a.Variables = d.bytes()
	if n := d.count(); n > 0 {
		a.Headers = make(map[string]string, n)
		for range n {
			k := d.str()
			a.Headers[k] = d.str()
		}
	}
	a.Attempts = d.int()
	a.Requeued = d.int()
	a.State = ActionState(d.str())
	a.LastError = d.str()
	if d.err != nil {
		return Action{}, d.err
	}
	if len(d.b) != 0 {
		return Action{}, fmt.Errorf("%w: %d trailing bytes in action record", errCorrupt, len(d.b))
	}
	return a, nil
}

func sortedKeys(m map[string]string) []string {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// appendActionJSON appends the JSON of an action as encoding/json writes it
// (the feed's ChangeAction and ChangeActionUpdated payload), without
// reflection: the relay's marks write one per delivered action.
func appendActionJSON(b []byte, a *Action) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, a.Seq, 10)
	b = appendJSONField(b, "actionId", a.ID)
	b = appendJSONField(b, "type", a.Type)
	b = appendJSONField(b, "target", a.Target)
	b = appendJSONField(b, "processId", a.ProcessID)
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, int64(a.Version), 10)
	b = append(b, `,"instanceKey":`...)
	b = strconv.AppendInt(b, a.InstanceKey, 10)
	b = appendJSONField(b, "correlationKey", a.CorrelationKey)
	b = appendJSONField(b, "elementId", a.ElementID)
	b = append(b, `,"raisedAt":`...)
	b = appendJSONTime(b, a.RaisedAt)
	if a.DueAt != nil {
		b = append(b, `,"dueAt":`...)
		b = appendJSONTime(b, *a.DueAt)
	}
	b = append(b, `,"variables":`...)
	if len(a.Variables) == 0 || !json.Valid(a.Variables) {
		b = append(b, "null"...)
	} else {
		b = append(b, a.Variables...)
	}
	if len(a.Headers) > 0 {
		b = append(b, `,"headers":{`...)
		for i, k := range sortedKeys(a.Headers) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendJSONString(b, a.Headers[k])
		}
		b = append(b, '}')
	}
	b = append(b, `,"attempts":`...)
	b = strconv.AppendInt(b, int64(a.Attempts), 10)
	if a.Requeued != 0 {
		b = append(b, `,"requeued":`...)
		b = strconv.AppendInt(b, int64(a.Requeued), 10)
	}
	b = appendJSONField(b, "state", string(a.State))
	if a.LastError != "" {
		b = appendJSONField(b, "lastError", a.LastError)
	}
	return append(b, '}')
}

// appendJSONField appends `,"name":` and v as a JSON string.
func appendJSONField(b []byte, name, v string) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendJSONString(b, v)
}

func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendJSONString appends s as a JSON string the way encoding/json does:
// control characters, quotes, backslashes and <, >, & escaped, invalid
// UTF-8 replaced by U+FFFD, U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
