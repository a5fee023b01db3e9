package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

func newTestServer(t *testing.T) *Server {
	t.Helper()
	s, err := New(Options{Listen: "127.0.0.1:0", MaxBodyBytes: 64, Tokens: []Token{
		{Name: "v", Value: "view-token", Role: RoleViewer},
		{Name: "o", Value: "op-token", Role: RoleOperator},
	}})
	if err != nil {
		t.Fatal(err)
	}
	s.API().GET("/things", func(c echo.Context) error { return c.JSON(http.StatusOK, []string{"a"}) })
	s.API().POST("/things", func(c echo.Context) error {
		var v map[string]any
		if err := c.Bind(&v); err != nil {
			return err
		}
		return c.JSON(http.StatusCreated, v)
	}, RequireRole(RoleOperator))
	s.API().GET("/bad", func(c echo.Context) error {
		return &ProblemError{Message: "model is invalid", Problems: []Problem{{Element: "Task_1", Message: "no outgoing flow"}}}
	})
	return s
}

func TestAuthAndRoles(t *testing.T) {
	s := newTestServer(t)
	tests := []struct {
		name, method, path, remote, token, body string
		want                                    int
		wantErr                                 string
	}{
		{"loopback needs no token", "GET", "/api/v1/things", "127.0.0.1:5000", "", "", 200, ""},
		{"loopback ipv6", "POST", "/api/v1/things", "[::1]:5000", "", `{"a":1}`, 201, ""},
		{"remote without token", "GET", "/api/v1/things", "192.0.2.7:5000", "", "", 401, "a bearer token is required outside loopback"},
		{"remote with unknown token", "GET", "/api/v1/things", "192.0.2.7:5000", "nope", "", 401, "unknown token"},
		{"remote viewer reads", "GET", "/api/v1/things", "192.0.2.7:5000", "view-token", "", 200, ""},
		{"remote viewer cannot write", "POST", "/api/v1/things", "192.0.2.7:5000", "view-token", `{}`, 403, "role operator required, token has viewer"},
		{"remote operator writes", "POST", "/api/v1/things", "192.0.2.7:5000", "op-token", `{}`, 201, ""},
		{"health is open", "GET", "/healthz", "192.0.2.7:5000", "", "", 200, ""},
		{"body over limit", "POST", "/api/v1/things", "127.0.0.1:1", "", `{"a":"` + strings.Repeat("x", 100) + `"}`, 413, "request body too large"},
		{"problems in error body", "GET", "/api/v1/bad", "127.0.0.1:1", "", "", 400, "model is invalid"},
		{"unknown route is JSON 404", "GET", "/api/v1/nothing", "127.0.0.1:1", "", "", 404, "Not Found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			req.RemoteAddr = tt.remote
			if tt.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			rec := httptest.NewRecorder()
			s.Echo().ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Fatalf("status %d, want %d; body %s", rec.Code, tt.want, rec.Body)
			}
			if tt.wantErr != "" {
				var body ErrorBody
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error != tt.wantErr {
					t.Fatalf("error body %s, want error %q", rec.Body, tt.wantErr)
				}
				if tt.name == "problems in error body" && (len(body.Problems) != 1 || body.Problems[0].Element != "Task_1") {
					t.Fatalf("problems not passed through: %s", rec.Body)
				}
			}
		})
	}
}

func TestReadyz(t *testing.T) {
	ready := false
	s, err := New(Options{Listen: "127.0.0.1:0", Ready: func() (bool, map[string]any) {
		return ready, map[string]any{"consumer": map[string]any{"partitions": 0}}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(t.Context())
	get := func() (int, map[string]any) {
		resp, err := http.Get("http://" + s.Addr() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	if code, body := get(); code != 503 || body["ready"] != false || body["consumer"] == nil {
		t.Fatalf("not ready: %d %v", code, body)
	}
	ready = true
	if code, _ := get(); code != 200 {
		t.Fatalf("ready: %d", code)
	}
}

func TestEmptyTokenRejected(t *testing.T) {
	if _, err := New(Options{Tokens: []Token{{Name: "x"}}}); err == nil || err.Error() != `api token "x" is empty` {
		t.Fatalf("err = %v", err)
	}
}
