package elastic

import (
	"bufio"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/tracker-dev/tracker/history"
)

// allOrders lists every listing order a cursor can belong to.
func allOrders() []order {
	out := []order{incidentOrder, actionOrder, elementOrder}
	for _, o := range instanceOrders {
		out = append(out, o)
	}
	for _, o := range eventOrders {
		out = append(out, o)
	}
	return out
}

func FuzzDecodeCursor(f *testing.F) {
	file, err := os.Open("testdata/cursors.txt")
	if err != nil {
		f.Fatal(err)
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		if line := sc.Text(); line != "" && !strings.HasPrefix(line, "#") {
			f.Add(line)
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, o := range allOrders() {
			values, err := decodeCursor(o, s)
			if err != nil {
				continue
			}
			// A cursor that decodes re-encodes to one that decodes the same.
			again, err := decodeCursor(o, encodeCursor(o, values...))
			if err != nil || !reflect.DeepEqual(again, values) {
				t.Fatalf("cursor %q for %s: decoded %v, re-encoded and decoded %v, %v", s, o.name, values, again, err)
			}
		}
	})
}

func TestCursorRoundTrip(t *testing.T) {
	o := instanceOrders[history.SortStartedDesc]
	s := encodeCursor(o, int64(1767600000000), int64(1)<<62)
	values, err := decodeCursor(o, s)
	if err != nil {
		t.Fatal(err)
	}
	// Keys beyond 2^53 survive: numbers stay json.Number, never float64.
	if got := values[1].(interface{ String() string }).String(); got != "4611686018427387904" {
		t.Errorf("key = %s, want 4611686018427387904", got)
	}
}
