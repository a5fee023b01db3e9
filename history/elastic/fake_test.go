package elastic

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the recorded requests in testdata/exchanges/*.http (canned responses are kept)")

// exchange is one request the client must send and the canned response the
// fake answers it with.
type exchange struct {
	request  string // canonical form, see canonicalRequest
	status   int    // 0: no response written yet
	response string
}

// fakeES is the boundary fake for an Elasticsearch cluster: an httptest
// server that checks every request the real olivere client sends against the
// golden file testdata/exchanges/<name>.http, in order, and answers each with
// the canned response stored next to it. It does not implement search: a
// request that differs from the golden one gets an Elasticsearch-shaped 400
// and fails the test with both texts.
//
// With -update the requests actually sent are written back to the file; the
// canned responses stay where they were (exchange i keeps response i), and new
// exchanges get a placeholder status 0 that fails until a response is written.
type fakeES struct {
	t    *testing.T
	file string
	srv  *httptest.Server

	mu       sync.Mutex
	want     []exchange
	got      []string
	failures []string
}

// newFakeES starts the fake for testdata/exchanges/<name>.http.
func newFakeES(t *testing.T, name string) *fakeES {
	t.Helper()
	f := &fakeES{t: t, file: filepath.Join("testdata", "exchanges", name+".http")}
	if name == "" {
		f.file = "(no request expected)"
	}
	data, err := os.ReadFile(f.file)
	switch {
	case name == "":
	case err == nil:
		f.want, err = parseExchanges(string(data))
		if err != nil {
			t.Fatalf("%s: %v", f.file, err)
		}
	case os.IsNotExist(err) && *update:
	default:
		t.Fatalf("read golden exchanges: %v (run with -update to record them)", err)
	}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // TLS handshake failures are expected in one test
	t.Cleanup(f.finish)
	return f
}

// start serves plain HTTP.
func (f *fakeES) start() *fakeES {
	f.srv.Start()
	return f
}

// startTLS serves HTTPS with a self-signed certificate and returns its CA
// as PEM.
func (f *fakeES) startTLS() []byte {
	f.srv.StartTLS()
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw})
}

// URL is the fake cluster's address.
func (f *fakeES) URL() string { return f.srv.URL }

// Requests returns how many requests arrived so far.
func (f *fakeES) Requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.got)
}

func (f *fakeES) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req := canonicalRequest(r, body)

	f.mu.Lock()
	i := len(f.got)
	f.got = append(f.got, req)
	var ex exchange
	ok := i < len(f.want)
	if ok {
		ex = f.want[i]
	}
	switch {
	case !ok && !*update:
		f.failures = append(f.failures, fmt.Sprintf("unexpected request %d (the golden file has %d):\n%s", i+1, len(f.want), req))
	case ok && ex.request != req && !*update:
		f.failures = append(f.failures, fmt.Sprintf("request %d differs from the golden one:\n--- want\n%s\n--- got\n%s", i+1, ex.request, req))
		ok = false
	case ok && ex.status == 0 && !*update:
		f.failures = append(f.failures, fmt.Sprintf("exchange %d has no canned response yet: write it in %s", i+1, f.file))
		ok = false
	case ok && ex.status == 0:
		ok = false
	}
	f.mu.Unlock()

	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	if !ok {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":{"root_cause":[{"type":"illegal_argument_exception","reason":"fake: request %d not in golden file"}],"type":"illegal_argument_exception","reason":"fake: request %d not in golden file"},"status":400}`, i+1, i+1)
		return
	}
	w.WriteHeader(ex.status)
	if r.Method != http.MethodHead {
		// {{addr}} stands for the fake's own host:port (sniffing answers
		// with the address a node publishes).
		io.WriteString(w, strings.ReplaceAll(ex.response, "{{addr}}", r.Host))
	}
}

// finish stops the server, then reports mismatches or rewrites the file.
func (f *fakeES) finish() {
	f.srv.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	if *update && !strings.HasPrefix(f.file, "(") {
		f.write()
		return
	}
	for _, msg := range f.failures {
		f.t.Errorf("%s: %s", f.file, msg)
	}
	if len(f.failures) == 0 && len(f.got) < len(f.want) && !f.t.Failed() {
		f.t.Errorf("%s: %d of %d golden requests were sent; the next one expected:\n%s", f.file, len(f.got), len(f.want), f.want[len(f.got)].request)
	}
}

func (f *fakeES) write() {
	var b strings.Builder
	for i, req := range f.got {
		status, resp := 0, "TODO: canned Elasticsearch response\n"
		if i < len(f.want) && f.want[i].status != 0 {
			status, resp = f.want[i].status, f.want[i].response
		}
		fmt.Fprintf(&b, ">>> %d\n%s\n<<< %d\n%s", i+1, req, status, resp)
		if !strings.HasSuffix(resp, "\n") {
			b.WriteByte('\n')
		}
		b.WriteByte('\n')
	}
	if err := os.MkdirAll(filepath.Dir(f.file), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(f.file, []byte(b.String()), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// canonicalRequest renders a request the same way every time: method, path,
// sorted query, the Content-Type and Authorization headers, and the body
// (a JSON document indented, NDJSON line by line as sent).
func canonicalRequest(r *http.Request, body []byte) string {
	var b strings.Builder
	b.WriteString(r.Method + " " + r.URL.EscapedPath())
	if q := r.URL.Query(); len(q) > 0 {
		keys := make([]string, 0, len(q))
		for k := range q {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			sep := "&"
			if i == 0 {
				sep = "?"
			}
			b.WriteString(sep + k + "=" + strings.Join(q[k], ","))
		}
	}
	b.WriteByte('\n')
	for _, h := range []string{"Content-Type", "Authorization"} {
		if v := r.Header.Get(h); v != "" {
			b.WriteString(h + ": " + v + "\n")
		}
	}
	if len(body) == 0 {
		return b.String()
	}
	b.WriteByte('\n')
	var out bytes.Buffer
	if !strings.Contains(r.Header.Get("Content-Type"), "ndjson") && json.Indent(&out, body, "", "  ") == nil {
		b.Write(out.Bytes())
		b.WriteByte('\n')
	} else {
		b.Write(body)
		if !bytes.HasSuffix(body, []byte("\n")) {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// parseExchanges reads the golden file format written by fakeES.write:
//
//	>>> N
//	<canonical request>
//	<<< STATUS
//	<response body>
func parseExchanges(data string) ([]exchange, error) {
	var out []exchange
	lines := strings.SplitAfter(data, "\n")
	var cur *exchange
	var section *strings.Builder
	var req, resp strings.Builder
	flush := func() {
		if cur != nil {
			cur.request = strings.TrimSuffix(req.String(), "\n") + "\n"
			cur.request = strings.TrimRight(cur.request, "\n") + "\n"
			cur.response = strings.TrimRight(resp.String(), "\n") + "\n"
			out = append(out, *cur)
		}
		req.Reset()
		resp.Reset()
	}
	for n, line := range lines {
		switch {
		case strings.HasPrefix(line, ">>> "):
			flush()
			cur = &exchange{}
			section = &req
		case strings.HasPrefix(line, "<<< "):
			if cur == nil {
				return nil, fmt.Errorf("line %d: response before any request", n+1)
			}
			status, err := strconv.Atoi(strings.TrimSpace(line[4:]))
			if err != nil {
				return nil, fmt.Errorf("line %d: bad status %q", n+1, strings.TrimSpace(line[4:]))
			}
			cur.status = status
			section = &resp
		case section != nil:
			section.WriteString(line)
		case strings.TrimSpace(line) != "":
			return nil, fmt.Errorf("line %d: text outside an exchange", n+1)
		}
	}
	flush()
	return out, nil
}
