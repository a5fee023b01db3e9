package sqlite_test

import (
	"testing"

	"github.com/tracker-dev/tracker/history"
	"github.com/tracker-dev/tracker/history/historytest"
	"github.com/tracker-dev/tracker/history/sqlite"
)

func openTemp(t testing.TB) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(sqlite.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	historytest.Run(t, func(t *testing.T) history.Backend { return openTemp(t) })
}
