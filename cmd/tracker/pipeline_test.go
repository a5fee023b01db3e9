package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tracker-dev/tracker/broker"
	"github.com/tracker-dev/tracker/config"
	"github.com/tracker-dev/tracker/simulator"
)

// TestStuckAtGoodsShippedOverKafka runs the whole tracker in-process against
// the embedded broker over TCP. The simulator produces five-day-old traffic
// with stalls, missing steps, out-of-order arrival, duplicates, unknown orders,
// malformed records and noise; afterwards GET /api/v1/instances?stuck=true&
// element=GoodsShipped must list exactly the orders whose furthest step the
// simulator produced was GoodsFetched (GoodsShipped's SLA is P3D).
func TestStuckAtGoodsShippedOverKafka(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end pipeline test")
	}
	b, err := broker.Start(broker.Options{Addr: "127.0.0.1:0", Topics: simulator.Topics, Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	const n = 3000
	shares := simulator.Shares{Stall: 0.2, Missing: 0.05, OutOfOrder: 0.1, Duplicate: 0.03, Unknown: 0.02, Malformed: 0.01, Noise: 0.02}
	gen := simulator.Options{Seed: 11, Start: time.Now().Add(-5 * 24 * time.Hour), Shares: &shares, StepGap: 10 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	p, err := simulator.NewProducer(simulator.ProducerOptions{Brokers: []string{b.Addr()}, Gen: gen, Limit: n, Unpaced: true, Progress: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	want := stalledAtGoodsShipped(gen, n)
	if len(want) < 20 {
		t.Fatalf("only %d orders stalled at GoodsShipped: the test needs more", len(want))
	}

	cfg := defaultDemoConfig(t)
	cfg.Kafka.Brokers = []string{b.Addr()}
	cfg.Kafka.SessionTimeout = config.Dur(6 * time.Second)
	demoSources(cfg)
	a, err := setup(ctx, cfg, appOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer scancel()
		if err := a.shutdown(sctx); err != nil {
			t.Error(err)
		}
	}()
	if _, _, _, err := a.models.DeployAll(ctx, "order-fulfillment.bpmn", simulator.ModelXML); err != nil {
		t.Fatal(err)
	}

	base := "http://" + a.http.Addr() + "/api/v1/instances?stuck=true&element=GoodsShipped&limit=200"
	var got []string
	for {
		got = stuckKeys(ctx, t, base)
		if strings.Join(got, ",") == strings.Join(want, ",") {
			break
		}
		select {
		case <-ctx.Done():
			var detail strings.Builder
			for _, k := range append(minus(want, got), minus(got, want)...) {
				fmt.Fprintf(&detail, "\n%s: %s\nevents: %s", k, instanceDetail(t, "http://"+a.http.Addr(), k), getBody("http://"+a.http.Addr()+"/api/v1/events?correlationKey="+k))
			}
			t.Fatalf("stuck at GoodsShipped: got %d orders, want %d\nmissing: %v\nextra: %v%s", len(got), len(want), minus(want, got), minus(got, want), detail.String())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// stalledAtGoodsShipped replays the simulator's stream and returns the orders
// whose furthest produced step is GoodsFetched.
func stalledAtGoodsShipped(opts simulator.Options, n int) []string {
	g := simulator.NewGenerator(opts)
	furthest := map[string]int{}
	step := map[string]int{}
	for i, s := range simulator.Steps {
		step[s.Type] = i
	}
	for range n {
		r := g.Next()
		var e struct{ Type, OrderID string }
		if r.Kind == simulator.Malformed || r.Kind == simulator.Unknown || json.Unmarshal(r.Value, &e) != nil || e.OrderID == "" {
			continue
		}
		if s, ok := step[e.Type]; ok && s >= furthest[e.OrderID] {
			furthest[e.OrderID] = s
		}
	}
	var out []string
	for id, s := range furthest {
		if simulator.Steps[s].Type == "GoodsFetched" {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

func stuckKeys(ctx context.Context, t *testing.T, first string) []string {
	t.Helper()
	var keys []string
	next := first
	for next != "" {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, next, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Items []struct {
				CorrelationKey string `json:"correlationKey"`
			} `json:"items"`
			Next string `json:"next"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %v", next, resp.StatusCode, err)
		}
		for _, it := range page.Items {
			keys = append(keys, it.CorrelationKey)
		}
		next = ""
		if page.Next != "" {
			next = fmt.Sprintf("%s&cursor=%s", first, url.QueryEscape(page.Next))
		}
	}
	sort.Strings(keys)
	return keys
}

func minus(a, b []string) []string {
	in := map[string]bool{}
	for _, x := range b {
		in[x] = true
	}
	var out []string
	for _, x := range a {
		if !in[x] {
			out = append(out, x)
		}
	}
	return out
}

// instanceDetail returns what the API knows of the instance for an order (diagnostics).
func instanceDetail(t *testing.T, base, key string) string {
	resp, err := http.Get(base + "/api/v1/instances?correlationKey=" + url.QueryEscape(key))
	if err != nil {
		return err.Error()
	}
	var page struct {
		Items []struct {
			Key int64 `json:"key"`
		} `json:"items"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	if len(page.Items) == 0 {
		return "no instance"
	}
	resp, err = http.Get(fmt.Sprintf("%s/api/v1/instances/%d", base, page.Items[0].Key))
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = io.Copy(&b, resp.Body)
	return b.String()
}

func getBody(u string) string {
	resp, err := http.Get(u)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = io.Copy(&b, resp.Body)
	return b.String()
}
