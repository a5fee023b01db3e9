package ui

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/labstack/echo/v4"
)

const chromiumPath = "/usr/bin/chromium"

// TestBrowserDashboardAndInstance drives the built UI in headless Chromium
// against the real product: it builds the tracker binary, runs `tracker demo`
// (embedded broker, engine, history, simulator) on free ports, opens the
// process dashboard, checks the diagram and its overlays against the API's
// statistics, and clicks through the instance list to an instance page.
//
// When the tracker binary does not serve the UI itself yet, the test serves
// ui.Routes next to a reverse proxy to the demo's API; the data is the
// demo's either way. Set UI_SCREENSHOTS=DIR to save a screenshot of each page.
func TestBrowserDashboardAndInstance(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: skipped in -short mode")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("browser test: %s not found (apt-get install -y chromium)", chromiumPath)
	}
	if !Built() {
		t.Skip("browser test: ui/dist is not built (make ui, or cd ui && npm ci && npm run build), then rerun")
	}
	base := startDemo(t)
	site := uiSite(t, base)
	waitForTraffic(t, base)

	alloc, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1440, 1000),
	)
	defer cancel()
	bctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	// The first Run starts the browser, which lives as long as its context:
	// no timeout on that one, a timeout on everything after.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	ctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	defer cancel()
	shots := os.Getenv("UI_SCREENSHOTS")
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			if shots == "" {
				return nil
			}
			png, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644)
		})
	}
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	card := css(`a.process-card[data-process="order-fulfillment"]`)

	// Processes: a card per model with numeric KPIs.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(site+"/"),
		chromedp.WaitVisible(css(`a.process-card[data-process="order-fulfillment"] .kpi`)),
		shot("processes"),
	); err != nil {
		t.Fatalf("processes page: %v", err)
	}
	cardText, err := chromedp.Run(ctx, chromedp.Text(card))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?i)\d+\s*Active`).MatchString(cardText) {
		t.Fatalf("process card shows no active count: %q", cardText)
	}

	// Dashboard: the diagram renders the model's elements, overlays carry numbers.
	if err := chromedp.Do(ctx,
		chromedp.Click(card),
		chromedp.WaitVisible(css(`#diagram svg .djs-element[data-element-id="PaymentReceived"]`)),
		chromedp.WaitVisible(css(`#diagram .ov[data-kind="active"]`)),
		chromedp.WaitVisible(css(`#chart-active`)),
	); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	ids, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#diagram svg .djs-element[data-element-id]')).map(e => e.dataset.elementId)`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"OrderPlaced", "FulfilOrder", "PaymentReceived", "GoodsFetched", "GoodsShipped", "OrderDelivered", "CancelOrder"} {
		if !slices.Contains(ids, want) {
			t.Errorf("diagram has no element %s; has %v", want, ids)
		}
	}
	badges, err := chromedp.Run(ctx, chromedp.Evaluate[[][]string](`Array.from(document.querySelectorAll('#diagram .ov[data-element]')).map(e => [e.dataset.element, e.dataset.kind, e.textContent])`))
	if err != nil {
		t.Fatal(err)
	}
	stats := statistics(t, base)
	active := 0
	for _, b := range badges {
		n, err := strconv.Atoi(strings.ReplaceAll(b[2], ",", ""))
		if err != nil || n <= 0 {
			t.Errorf("overlay %v does not show a positive number", b)
			continue
		}
		s, ok := stats[b[0]]
		if !ok {
			t.Errorf("overlay on %s, which has no statistics", b[0])
			continue
		}
		if b[1] == "active" {
			active++
			// The demo keeps moving between the page's fetch and ours: the
			// element must still be one with active instances.
			if s.Active == 0 {
				t.Errorf("active badge %d on %s, but the API reports none active there", n, b[0])
			}
		}
	}
	if active == 0 {
		t.Fatalf("no active-count overlay on the diagram: %v", badges)
	}
	if err := chromedp.Do(ctx, shot("dashboard")); err != nil {
		t.Fatal(err)
	}

	// Clicking an element shows its figures.
	if err := chromedp.Do(ctx,
		chromedp.Click(css(`#diagram svg .djs-element[data-element-id="PaymentReceived"]`)),
		chromedp.WaitVisible(css(`#side dl.facts`)),
	); err != nil {
		t.Fatalf("element details: %v", err)
	}
	side, err := chromedp.Run(ctx, chromedp.Text(css(`#side`)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(side, "Payment received") || !strings.Contains(side, "Threshold") {
		t.Fatalf("element panel: %q", side)
	}

	// Instances list → first instance page with its path on the diagram.
	first := css(`#list tbody tr[data-key] a`)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(site+"/instances?processId=order-fulfillment&state=active"),
		chromedp.WaitVisible(first),
		shot("instances"),
	); err != nil {
		t.Fatalf("instances page: %v", err)
	}
	href, err := chromedp.Run(ctx, chromedp.AttributeValue(first, "href"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^/instances/\d+$`).MatchString(href.Value) {
		t.Fatalf("instance link %q", href.Value)
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(first),
		chromedp.WaitVisible(css(`#diagram svg .djs-element.path-completed`)),
		chromedp.WaitVisible(css(`.timeline .tl`)),
		shot("instance"),
	); err != nil {
		t.Fatalf("instance page: %v", err)
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	heading, err := chromedp.Run(ctx, chromedp.Text(css(`h1`)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(loc, href.Value) {
		t.Fatalf("clicked %q, landed on %q", href.Value, loc)
	}
	var inst struct {
		CorrelationKey string `json:"correlationKey"`
	}
	getJSON(t, base+"/api/v1"+href.Value, &inst)
	if inst.CorrelationKey == "" || !strings.Contains(heading, inst.CorrelationKey) {
		t.Fatalf("instance heading %q does not name correlation key %q", heading, inst.CorrelationKey)
	}

	// Incidents: resolve the first open one with a comment through the dialog;
	// the API must then report it resolved with that comment.
	row := css(`#list tbody tr[data-id]`)
	for deadline := time.Now().Add(30 * time.Second); ; {
		var open struct {
			Items []json.RawMessage `json:"items"`
		}
		getJSON(t, base+"/api/v1/incidents?state=open&limit=1", &open)
		if len(open.Items) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the demo raised no open incident within 30 s")
		}
		time.Sleep(300 * time.Millisecond)
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(site+"/incidents"),
		chromedp.WaitVisible(css(`#list tbody tr[data-id] [data-resolve]`)),
		shot("incidents"),
	); err != nil {
		t.Fatalf("incidents page: %v", err)
	}
	id, err := chromedp.Run(ctx, chromedp.AttributeValue(row, "data-id"))
	if err != nil {
		t.Fatal(err)
	}
	comment := "resolved by the browser test"
	if err := chromedp.Do(ctx,
		chromedp.Click(css(`#list tbody tr[data-id] [data-resolve]`)),
		chromedp.WaitVisible(css(`#resolve textarea`)),
		chromedp.SendKeys(css(`#resolve textarea`), comment),
		chromedp.Click(css(`#resolve button[value="ok"]`)),
		chromedp.WaitVisible(css(`#list tbody tr[data-id="`+id.Value+`"] .pill-green`)),
	); err != nil {
		t.Fatalf("resolve incident %s: %v", id.Value, err)
	}
	var inc struct {
		State   string `json:"state"`
		History []struct {
			Comment string `json:"comment"`
		} `json:"history"`
	}
	getJSON(t, base+"/api/v1/incidents/"+url.PathEscape(id.Value), &inc)
	if inc.State != "resolved" {
		t.Fatalf("incident %s is %q after resolving in the UI", id.Value, inc.State)
	}
	if !strings.Contains(fmt.Sprint(inc.History), comment) {
		t.Errorf("incident history %+v does not record the comment %q", inc.History, comment)
	}
}

type elementStats struct {
	Active, Stuck, Completed int64
}

func statistics(t *testing.T, base string) map[string]elementStats {
	t.Helper()
	var body struct {
		Elements []struct {
			ElementID string `json:"elementId"`
			elementStats
		} `json:"elements"`
	}
	getJSON(t, base+"/api/v1/models/order-fulfillment/statistics", &body)
	out := map[string]elementStats{}
	for _, e := range body.Elements {
		out[e.ElementID] = e.elementStats
	}
	return out
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: decode: %v", u, err)
	}
}

// startDemo builds and runs `tracker demo` on free ports and returns its base URL.
func startDemo(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tracker")
	build := exec.Command("go", "build", "-o", bin, "../cmd/tracker")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("build tracker: %v", err)
	}
	cmd := exec.Command(bin, "demo", "--listen", "127.0.0.1:0", "--kafka", "127.0.0.1:0", "--data-dir", t.TempDir(), "--rate", "200", "--seed", "7",
		"--anomalies", "malformed=0.03") // enough DECODE_ERROR incidents early for the incidents page
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start tracker demo: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	found := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`UI\s+(http://\S+)`)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case u := <-found:
		return u
	case <-time.After(60 * time.Second):
		t.Fatalf("tracker demo printed no UI URL; stderr:\n%s", stderr.String())
	}
	return ""
}

// uiSite returns where the browser should go: the tracker itself when it
// serves this UI, else a local server with Routes and the demo's API behind
// a reverse proxy.
func uiSite(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/")
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK && strings.Contains(string(b), `id="global-search"`) {
			t.Logf("tracker serves the UI itself at %s", base)
			return base
		}
	}
	target, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.Any("/api/*", echo.WrapHandler(httputil.NewSingleHostReverseProxy(target)))
	Routes(e)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	t.Logf("tracker at %s does not serve the UI; serving ui.Routes at %s with the API proxied", base, srv.URL)
	return srv.URL
}

// waitForTraffic waits until the simulator's instances show in the statistics.
func waitForTraffic(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(base + "/api/v1/models/order-fulfillment/statistics")
		if err == nil {
			var body struct {
				Elements []struct {
					Active int64 `json:"active"`
				} `json:"elements"`
			}
			err = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			for _, e := range body.Elements {
				if e.Active > 0 {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no active instances in the demo after 60 s (last error: %v)", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
