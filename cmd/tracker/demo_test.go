package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tracker-dev/tracker/engine"
)

// buildTracker compiles the tracker binary once per test run.
func buildTracker(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tracker")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("build tracker: %v", err)
	}
	return bin
}

// TestDemoStartsAndStopsOnSIGTERM runs the real binary: `tracker demo` must
// print its URL, answer /readyz, and exit 0 within 10 s of SIGTERM.
func TestDemoStartsAndStopsOnSIGTERM(t *testing.T) {
	bin := buildTracker(t)
	dir := t.TempDir()
	cmd := exec.Command(bin, "demo", "--listen", "127.0.0.1:0", "--kafka", "127.0.0.1:0", "--data-dir", dir, "--rate", "200", "--seed", "3")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	urlRE := regexp.MustCompile(`UI\s+(http://\S+)`)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := urlRE.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	var base string
	select {
	case base = <-found:
	case <-time.After(30 * time.Second):
		t.Fatalf("demo printed no UI URL; stderr:\n%s", stderr.String())
	}

	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				var r map[string]any
				if err := json.Unmarshal(body, &r); err != nil || r["ready"] != true {
					t.Fatalf("/readyz body %s", body)
				}
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never became ready; stderr:\n%s", stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(dir, "broker")); err != nil {
		t.Errorf("broker data dir not created: %v", err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("demo exited with %v; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("demo did not stop within 10 s of SIGTERM; stderr:\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "stopped cleanly") {
		t.Errorf("no clean-stop log line; stderr:\n%s", stderr.String())
	}
}

func TestValidateCommand(t *testing.T) {
	dir := t.TempDir()
	badCfg := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badCfg, []byte("kafka: {brokers: []}\nengine: {backend: nope}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		files []string
		ok    bool
		want  []string
	}{
		{"shared config", []string{"../../../shared/examples/tracker.yaml"}, true, []string{"tracker.yaml: valid config", "order-fulfillment.bpmn: valid model (order-fulfillment)"}},
		{"bad config lists all problems", []string{badCfg}, false, []string{
			"bad.yaml:1: kafka.brokers: no brokers: list at least one host:port",
			`bad.yaml:2: engine.backend: unknown backend "nope": use embedded or zeebe`}},
		{"unknown extension", []string{"x.txt"}, false, []string{"x.txt: unknown file type"}},
		{"invalid model", []string{"../../models/testdata/invalid/no-start.bpmn"}, false, []string{"no-start.bpmn: p (Problem): the process has no start event", "no-start.bpmn: Sub (Sub): the sub-process has no start event"}},
		{"decision table", []string{"../../../shared/examples/uncorrelated.dmn"}, true, []string{"uncorrelated.dmn: valid decision table"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			ok := true
			for _, f := range tt.files {
				ok = validateFile(&out, f) && ok
			}
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v; output:\n%s", ok, tt.ok, out.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

func TestAppInProcess(t *testing.T) {
	cfg := defaultDemoConfig(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := setup(ctx, cfg, appOptions{Demo: &demoOptions{KafkaAddr: "127.0.0.1:0", Rate: 0}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + a.http.Addr() + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = http.Get("http://" + a.http.Addr() + "/metrics")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("metrics: %v %v", resp, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "go_goroutines") {
		t.Fatalf("metrics lack go_goroutines")
	}
	// the engine's store figures: opening the store logged its format record
	for _, name := range []string{"tracker_engine_cached_groups ", "tracker_engine_store_compaction_debt_bytes ", "tracker_engine_store_l0_sublevels "} {
		if !strings.Contains(string(body), "\n"+name) {
			t.Errorf("metrics lack %s", name)
		}
	}
	if m := regexp.MustCompile(`\ntracker_engine_store_wal_bytes_total (\S+)`).FindStringSubmatch(string(body)); m == nil || m[1] == "0" {
		t.Errorf("tracker_engine_store_wal_bytes_total: %q", m)
	}
	resp, err = http.Get("http://" + a.http.Addr() + "/api/v1/models")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("models: %v %v", resp, err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"processId":"order-fulfillment"`) {
		t.Fatalf("demo model not deployed: %s", body)
	}
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	if err := a.shutdown(sctx); err != nil {
		t.Fatal(err)
	}
}

func TestEngineMetricsInStep(t *testing.T) {
	if n, m := len(engineValues(engine.Stats{})), len(engineMetrics); n != m {
		t.Fatalf("engineValues gives %d values for %d metrics", n, m)
	}
}
