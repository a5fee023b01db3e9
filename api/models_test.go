package api

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tracker-dev/tracker/models"
)

const modelsTestdata = "../models/testdata"

// newModelServer runs the real server with the model routes over a real
// repository in a temporary directory.
func newModelServer(t *testing.T) (*httptest.Server, *models.Repository) {
	t.Helper()
	repo, err := models.OpenRepository(t.TempDir(), models.RepositoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Listen: "127.0.0.1:0", MaxBodyBytes: 16 << 20, Tokens: []Token{
		{Name: "v", Value: "view-token", Role: RoleViewer},
		{Name: "o", Value: "op-token", Role: RoleOperator},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ModelRoutes(s.API(), repo, s.RequireRole(RoleOperator))
	ts := httptest.NewServer(s.Echo())
	t.Cleanup(ts.Close)
	return ts, repo
}

func modelFile(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(modelsTestdata, name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func do(t *testing.T, method, url, token, contentType string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, out
}

func decode[T any](t *testing.T, body []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return v
}

type deployBody struct {
	ProcessID   string              `json:"processId"`
	Version     int                 `json:"version"`
	Key         int64               `json:"key"`
	Created     bool                `json:"created"`
	Deployments []models.Deployment `json:"deployments"`
	Warnings    []Problem           `json:"warnings"`
}

func TestModelsDeployAndRead(t *testing.T) {
	ts, _ := newModelServer(t)
	base := ts.URL + "/api/v1/models"
	v1 := modelFile(t, "valid/order-fulfillment.bpmn")

	status, _, body := do(t, "POST", base+"?file=order.bpmn", "op-token", "application/xml", v1)
	if status != http.StatusCreated {
		t.Fatalf("deploy: %d %s", status, body)
	}
	got := decode[deployBody](t, body)
	if got.ProcessID != "order-fulfillment" || got.Version != 1 || got.Key == 0 || !got.Created || got.Deployments != nil {
		t.Errorf("deploy body = %+v", got)
	}

	status, _, body = do(t, "POST", base, "op-token", "application/xml", v1)
	if again := decode[deployBody](t, body); status != http.StatusOK || again.Version != 1 || again.Key != got.Key || again.Created {
		t.Errorf("identical redeploy: %d %+v, want 200 version 1", status, again)
	}

	v2 := bytes.Replace(v1, []byte(`value="P7D"`), []byte(`value="P9D"`), 1)
	status, _, body = do(t, "POST", base, "op-token", "application/xml", v2)
	if d := decode[deployBody](t, body); status != http.StatusCreated || d.Version != 2 {
		t.Errorf("changed deploy: %d %+v, want 201 version 2", status, d)
	}

	status, _, body = do(t, "GET", base, "view-token", "", nil)
	list := decode[struct {
		Items []struct {
			ProcessID string `json:"processId"`
			Version   int    `json:"version"`
			Versions  int    `json:"versions"`
		} `json:"items"`
	}](t, body)
	if status != http.StatusOK || len(list.Items) != 1 || list.Items[0].Version != 2 || list.Items[0].Versions != 2 {
		t.Errorf("list: %d %s", status, body)
	}

	type detail struct {
		Version  int    `json:"version"`
		Versions []int  `json:"versions"`
		SLA      string `json:"sla"`
		File     string `json:"file"`
		Messages []struct {
			Name, CorrelationKey string
		} `json:"messages"`
		Elements []struct {
			ID, Kind, Parent, AttachedTo, Timer, SLA string
			Interrupting                             *bool
		} `json:"elements"`
	}
	status, _, body = do(t, "GET", base+"/order-fulfillment", "view-token", "", nil)
	latest := decode[detail](t, body)
	if status != http.StatusOK || latest.Version != 2 || latest.SLA != "P9D" || len(latest.Versions) != 2 || len(latest.Messages) != 5 {
		t.Errorf("get latest: %d %s", status, body)
	}
	found := false
	for _, e := range latest.Elements {
		if e.ID == "DelayTimer" {
			found = e.Kind == "boundaryEvent" && e.AttachedTo == "FulfilOrder" && e.Timer == "P14D" && e.Interrupting != nil && !*e.Interrupting
		}
	}
	if !found {
		t.Errorf("DelayTimer missing or wrong in %s", body)
	}
	status, _, body = do(t, "GET", base+"/order-fulfillment?version=1", "view-token", "", nil)
	if first := decode[detail](t, body); status != http.StatusOK || first.Version != 1 || first.SLA != "P7D" || first.File != "order.bpmn" {
		t.Errorf("get version 1: %d %s", status, body)
	}

	status, hdr, body := do(t, "GET", base+"/order-fulfillment/xml?version=1", "view-token", "", nil)
	if status != http.StatusOK || !bytes.Equal(body, v1) || !strings.HasPrefix(hdr.Get("Content-Type"), "application/xml") {
		t.Errorf("xml v1: %d %s, %d bytes", status, hdr.Get("Content-Type"), len(body))
	}
	status, _, body = do(t, "GET", base+"/order-fulfillment/xml", "view-token", "", nil)
	if status != http.StatusOK || !bytes.Equal(body, v2) {
		t.Errorf("xml latest: %d, not the second file", status)
	}
}

func TestModelsDeployCollaboration(t *testing.T) {
	ts, repo := newModelServer(t)
	status, _, body := do(t, "POST", ts.URL+"/api/v1/models", "", "application/xml", modelFile(t, "valid/collaboration.bpmn"))
	d := decode[deployBody](t, body)
	if status != http.StatusCreated || d.ProcessID != "shop" || len(d.Deployments) != 2 || d.Deployments[1].ProcessID != "payment" {
		t.Errorf("deploy collaboration: %d %s", status, body)
	}
	if _, ok := repo.Latest("payment"); !ok {
		t.Error("payment process not deployed")
	}
}

func TestModelsDeployMultipart(t *testing.T) {
	ts, _ := newModelServer(t)
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.WriteField("deployment-name", "timers"); err != nil {
		t.Fatal(err)
	}
	fw, err := mw.CreateFormFile("data", "timers.bpmn")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(modelFile(t, "valid/timers.bpmn"))
	mw.Close()
	status, _, body := do(t, "POST", ts.URL+"/api/v1/models", "op-token", mw.FormDataContentType(), buf.Bytes())
	if d := decode[deployBody](t, body); status != http.StatusCreated || d.ProcessID != "timers" {
		t.Fatalf("multipart deploy: %d %s", status, body)
	}
	status, _, body = do(t, "GET", ts.URL+"/api/v1/models/timers", "", "", nil)
	if !strings.Contains(string(body), `"file":"timers.bpmn"`) {
		t.Errorf("file name from the multipart part not kept: %d %s", status, body)
	}
}

func TestModelsDeployWarnings(t *testing.T) {
	ts, _ := newModelServer(t)
	status, _, body := do(t, "POST", ts.URL+"/api/v1/models", "", "application/xml", modelFile(t, "valid/default-namespace.bpmn"))
	d := decode[deployBody](t, body)
	if status != http.StatusCreated || len(d.Warnings) != 1 || !strings.Contains(d.Warnings[0].Message, "warning: the file has no diagram") {
		t.Errorf("deploy with warning: %d %s", status, body)
	}
}

func TestModelsErrors(t *testing.T) {
	ts, _ := newModelServer(t)
	base := ts.URL + "/api/v1/models"
	if status, _, body := do(t, "POST", base, "", "application/xml", modelFile(t, "valid/timers.bpmn")); status != http.StatusCreated {
		t.Fatalf("setup deploy: %d %s", status, body)
	}
	huge := append([]byte("<x>"), bytes.Repeat([]byte(" "), models.DefaultMaxBytes)...)
	tests := []struct {
		name, method, path, token string
		body                      []byte
		want                      int
		contains                  string
	}{
		{"invalid model", "POST", "", "op-token", modelFile(t, "invalid/timer.bpmn"), 400,
			`"problems":[{"element":"Words","name":"Two weeks","line":10,"message":"the timeDuration \"two weeks\" is not an ISO 8601 duration`},
		{"malformed xml", "POST", "", "op-token", []byte("<definitions"), 400, `"message":"malformed XML: unexpected EOF"`},
		{"doctype", "POST", "", "op-token", modelFile(t, "invalid/doctype.bpmn"), 400, "DOCTYPE and entity declarations are not allowed"},
		{"empty body", "POST", "", "op-token", nil, 400, "the request body is empty"},
		{"too large", "POST", "", "op-token", huge, 413, "request body too large"},
		{"viewer cannot deploy", "POST", "", "view-token", modelFile(t, "valid/timers.bpmn"), 403, "role operator required"},
		{"unknown process", "GET", "/nope", "view-token", nil, 404, `no process \"nope\" is deployed`},
		{"unknown version", "GET", "/timers?version=7", "view-token", nil, 404, `process \"timers\" has no version 7`},
		{"bad version", "GET", "/timers?version=x", "view-token", nil, 400, `version \"x\" is not a positive number`},
		{"unknown xml", "GET", "/nope/xml", "view-token", nil, 404, "no process"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := do(t, tt.method, base+tt.path, tt.token, "application/xml", tt.body)
			if status != tt.want || !strings.Contains(string(body), tt.contains) {
				t.Errorf("%s %s = %d %s; want %d containing %s", tt.method, tt.path, status, body, tt.want, tt.contains)
			}
		})
	}
}
