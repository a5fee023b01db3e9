package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/tracker-dev/tracker/decisiontable"
)

const decisionsTestdata = "../decisiontable/testdata"

// refTables is a reference DecisionTables: an atomic pointer swapped by
// Replace, as the tracker's decider does.
type refTables struct {
	t        atomic.Pointer[decisiontable.Table]
	replaced atomic.Int32
}

func (r *refTables) Current() *decisiontable.Table { return r.t.Load() }

func (r *refTables) Replace(name string, data []byte) ([]decisiontable.Problem, error) {
	t, err := decisiontable.Parse(name, data)
	var ps decisiontable.Problems
	if errors.As(err, &ps) {
		return ps, nil
	}
	if err != nil {
		return nil, err
	}
	r.t.Store(t)
	r.replaced.Add(1)
	return nil, nil
}

func newDecisionServer(t *testing.T, initial string) (*httptest.Server, *refTables) {
	t.Helper()
	tables := &refTables{}
	if initial != "" {
		tab, err := decisiontable.Load(filepath.Join(decisionsTestdata, initial))
		if err != nil {
			t.Fatal(err)
		}
		tables.t.Store(tab)
	}
	s, err := New(Options{Listen: "127.0.0.1:0", Tokens: []Token{
		{Name: "v", Value: "view-token", Role: RoleViewer},
		{Name: "o", Value: "op-token", Role: RoleOperator},
	}})
	if err != nil {
		t.Fatal(err)
	}
	DecisionRoutes(s.API(), tables, s.RequireRole(RoleOperator))
	ts := httptest.NewServer(s.Echo())
	t.Cleanup(ts.Close)
	return ts, tables
}

func decisionFile(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(decisionsTestdata, name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestDecisionsGetAndReplace(t *testing.T) {
	ts, tables := newDecisionServer(t, "uncorrelated.dmn")
	url := ts.URL + "/api/v1/decisions"
	status, _, body := do(t, "GET", url, "view-token", "", nil)
	if status != http.StatusOK {
		t.Fatalf("GET: %d %s", status, body)
	}
	info := decode[TableInfo](t, body)
	want := []string{"Rule_Decode", "Rule_Noise", "Rule_Late", "Rule_EarlyFresh", "Rule_Expired", "Rule_Default"}
	if info.ID != "uncorrelated-events" || info.HitPolicy != "FIRST" || info.File != filepath.Join(decisionsTestdata, "uncorrelated.dmn") || len(info.Rules) != len(want) {
		t.Fatalf("GET: %+v", info)
	}
	for i, r := range info.Rules {
		if r.ID != want[i] {
			t.Fatalf("rule %d is %s, want %s", i, r.ID, want[i])
		}
	}

	for _, tc := range []struct {
		name, file, query, contentType, wantFile string
	}{
		{"yaml by content type", "uncorrelated.yaml", "", "application/yaml", "decisions.yaml"},
		{"dmn by content type", "uncorrelated.dmn", "", "application/xml", "decisions.dmn"},
		{"yaml sniffed", "uncorrelated.yaml", "", "", "decisions.yaml"},
		{"dmn sniffed", "fees-dmn11.dmn", "", "application/octet-stream", "decisions.dmn"},
		{"file name", "uncorrelated.yaml", "?file=ops/table.yml", "", "table.yml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tables.replaced.Load()
			status, _, body := do(t, "POST", url+tc.query, "op-token", tc.contentType, decisionFile(t, tc.file))
			if tc.file == "fees-dmn11.dmn" {
				// A valid DMN table without an action output is refused.
				if status != http.StatusBadRequest {
					t.Fatalf("POST %s: %d %s", tc.file, status, body)
				}
				eb := decode[ErrorBody](t, body)
				if len(eb.Problems) != 1 || eb.Problems[0].Name != "decisions.dmn" {
					t.Fatalf("problems %+v", eb.Problems)
				}
				return
			}
			if status != http.StatusOK {
				t.Fatalf("POST %s: %d %s", tc.file, status, body)
			}
			got := decode[TableInfo](t, body)
			if got.File != tc.wantFile || got.ID != "uncorrelated-events" || len(got.Rules) != len(want) {
				t.Fatalf("POST answered %+v", got)
			}
			if tables.replaced.Load() != before+1 || tables.Current().File() != tc.wantFile {
				t.Fatalf("table in force is %s", tables.Current().File())
			}
		})
	}
}

func TestDecisionsInvalidKeepsOldTable(t *testing.T) {
	ts, tables := newDecisionServer(t, "uncorrelated.yaml")
	old := tables.Current()
	url := ts.URL + "/api/v1/decisions"
	for _, tc := range []struct {
		name, file, query, token string
		body                     []byte
		status                   int
		wantError                string
		wantProblem              Problem // the first problem
		problems                 int
	}{
		{name: "bad entries", file: "problems/bad-entries.dmn", query: "?file=bad-entries.dmn", token: "op-token", status: 400,
			wantError:   "the decision table bad-entries.dmn is invalid: 15 problem(s); the table in force is unchanged",
			wantProblem: Problem{Element: "Input_Weird", Name: "bad-entries.dmn", Line: 15, Message: `input "Weird" (payload.amount +): type "money" is not supported; use string, number, boolean, date, dateTime, time or duration`},
			problems:    15},
		{name: "no action", file: "problems/no-action.yaml", token: "op-token", status: 400,
			wantError:   "the decision table decisions.yaml is invalid: 1 problem(s); the table in force is unchanged",
			wantProblem: Problem{Element: "no-action", Name: "decisions.yaml", Message: `the table has no output named "action"; it must say what to do with an event (ignore, incident, buffer, dead-letter)`},
			problems:    1},
		{name: "empty body", body: []byte(" \n"), token: "op-token", status: 400,
			wantError: "the request body is empty: send the DMN XML or the YAML form of the table"},
		{name: "bad file name", file: "uncorrelated.yaml", query: "?file=table.txt", token: "op-token", status: 400,
			wantError: `file "table.txt": use a .dmn (DMN XML), .yaml or .yml name`},
		{name: "viewer", file: "uncorrelated.yaml", token: "view-token", status: 403,
			wantError: "role operator required, token has viewer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.body
			if tc.file != "" {
				body = decisionFile(t, tc.file)
			}
			status, _, resp := do(t, "POST", url+tc.query, tc.token, "", body)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, resp)
			}
			eb := decode[ErrorBody](t, resp)
			if eb.Error != tc.wantError || len(eb.Problems) != tc.problems {
				t.Fatalf("error %q with %d problems, want %q with %d", eb.Error, len(eb.Problems), tc.wantError, tc.problems)
			}
			if tc.problems > 0 && eb.Problems[0] != tc.wantProblem {
				t.Fatalf("first problem %+v, want %+v", eb.Problems[0], tc.wantProblem)
			}
			if tables.Current() != old || tables.replaced.Load() != 0 {
				t.Fatal("the table in force changed")
			}
		})
	}
}

func TestDecisionsNoTable(t *testing.T) {
	ts, _ := newDecisionServer(t, "")
	status, _, body := do(t, "GET", ts.URL+"/api/v1/decisions", "", "", nil)
	if status != http.StatusNotFound {
		t.Fatalf("%d %s", status, body)
	}
	if eb := decode[ErrorBody](t, body); eb.Error != "no decision table is configured: every uncorrelated event becomes an incident" {
		t.Fatalf("error %q", eb.Error)
	}
}
