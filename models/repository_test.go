package models

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func openRepo(t *testing.T, dir string) *Repository {
	t.Helper()
	clock := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	r, err := OpenRepository(dir, RepositoryOptions{Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRepositoryDeployVersions(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	r := openRepo(t, dir)
	v1 := readTestdata(t, "valid/order-fulfillment.bpmn")

	d, created, problems, err := r.Deploy(ctx, "order-fulfillment.bpmn", v1)
	if err != nil || !created || len(problems) != 0 {
		t.Fatalf("first deploy: %+v created=%v problems=%v err=%v", d, created, problems, err)
	}
	if d.ProcessID != "order-fulfillment" || d.Version != 1 || d.Key != 1 || d.Name != "Order fulfillment" {
		t.Errorf("first deploy = %+v", d)
	}

	again, created, _, err := r.Deploy(ctx, "renamed.bpmn", v1)
	if err != nil || created || again != d {
		t.Errorf("identical redeploy = %+v created=%v err=%v, want %+v not created", again, created, err, d)
	}

	v2 := bytes.Replace(v1, []byte(`value="P7D"`), []byte(`value="P8D"`), 1)
	d2, created, _, err := r.Deploy(ctx, "order-fulfillment.bpmn", v2)
	if err != nil || !created || d2.Version != 2 || d2.Key != 2 {
		t.Fatalf("changed deploy = %+v created=%v err=%v, want version 2 key 2", d2, created, err)
	}
	// Going back to the first file's content is a change against the latest version.
	d3, created, _, err := r.Deploy(ctx, "order-fulfillment.bpmn", v1)
	if err != nil || !created || d3.Version != 3 {
		t.Fatalf("revert deploy = %+v created=%v err=%v, want version 3", d3, created, err)
	}

	latest, ok := r.Latest("order-fulfillment")
	if !ok || latest.Version != 3 || latest.Key != 3 {
		t.Errorf("Latest = v%d key %d, want v3 key 3", latest.Version, latest.Key)
	}
	p2, ok := r.Get("order-fulfillment", 2)
	if !ok || p2.SLA != 8*24*time.Hour {
		t.Errorf("Get v2 SLA = %v, want 192h", p2.SLA)
	}
	if _, ok := r.Get("order-fulfillment", 4); ok {
		t.Error("Get v4 found a version that does not exist")
	}
	if xml, ok := r.XML("order-fulfillment", 2); !ok || !bytes.Equal(xml, v2) {
		t.Error("XML v2 is not the deployed file")
	}

	// Everything survives a reopen.
	r2 := openRepo(t, dir)
	if got, want := r2.List(), r.List(); len(got) != 3 || !equalDeployments(got, want) {
		t.Errorf("after reopen List = %+v, want %+v", got, want)
	}
	p, ok := r2.Get("order-fulfillment", 2)
	if !ok || p.Version != 2 || p.Key != 2 || p.SLA != 8*24*time.Hour || !p.DeployedAt.Equal(d2.DeployedAt) {
		t.Errorf("after reopen Get v2 = %+v", p)
	}
	d4, created, _, err := r2.Deploy(ctx, "x.bpmn", v2)
	if err != nil || !created || d4.Version != 4 || d4.Key != 4 {
		t.Errorf("deploy after reopen = %+v, want version 4 key 4", d4)
	}
}

func equalDeployments(a, b []Deployment) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ProcessID != b[i].ProcessID || a[i].Version != b[i].Version || a[i].Key != b[i].Key ||
			a[i].Hash != b[i].Hash || !a[i].DeployedAt.Equal(b[i].DeployedAt) {
			return false
		}
	}
	return true
}

func TestRepositoryCollaboration(t *testing.T) {
	r := openRepo(t, t.TempDir())
	ds, created, _, err := r.DeployAll(context.Background(), "collaboration.bpmn", readTestdata(t, "valid/collaboration.bpmn"))
	if err != nil || !created || len(ds) != 2 {
		t.Fatalf("DeployAll = %+v, %v, %v", ds, created, err)
	}
	if ds[0].ProcessID != "shop" || ds[1].ProcessID != "payment" || ds[0].Key == ds[1].Key {
		t.Errorf("deployments = %+v", ds)
	}
	if got := processIDs(r.StartingOn("OrderPlaced")); got != "shop" {
		t.Errorf("StartingOn(OrderPlaced) = %s", got)
	}
	if got := processIDs(r.Catching("CardCharged")); got != "payment shop" {
		t.Errorf("Catching(CardCharged) = %s, want payment shop", got)
	}
	if got := processIDs(r.LatestProcesses()); got != "payment shop" {
		t.Errorf("LatestProcesses = %s", got)
	}
	if !r.UsesMessage("ChargeRequested") || r.UsesMessage("Nope") {
		t.Error("UsesMessage wrong")
	}
}

func processIDs(ps []*Process) string {
	var b bytes.Buffer
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(p.ID)
	}
	return b.String()
}

func TestRepositoryRejectsInvalid(t *testing.T) {
	dir := t.TempDir()
	r := openRepo(t, dir)
	_, created, problems, err := r.Deploy(context.Background(), "timer.bpmn", readTestdata(t, "invalid/timer.bpmn"))
	if !errors.Is(err, ErrInvalid) || created || !HasErrors(problems) {
		t.Fatalf("Deploy invalid = created %v, problems %v, err %v", created, problems, err)
	}
	if len(r.List()) != 0 {
		t.Error("invalid model was listed")
	}
	if _, err := os.Stat(filepath.Join(dir, "index.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("index.json written for an invalid model: %v", err)
	}
}

func TestRepositoryConcurrentDeploy(t *testing.T) {
	r := openRepo(t, t.TempDir())
	base := readTestdata(t, "valid/order-fulfillment.bpmn")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			xml := bytes.Replace(base, []byte(`value="P7D"`), []byte(`value="P`+string(rune('1'+i))+`D"`), 1)
			if _, _, _, err := r.Deploy(context.Background(), "f.bpmn", xml); err != nil {
				t.Error(err)
			}
			r.Latest("order-fulfillment")
			r.StartingOn("OrderPlaced")
		})
	}
	wg.Wait()
	ds := r.Versions("order-fulfillment")
	if len(ds) != 8 {
		t.Fatalf("%d versions, want 8", len(ds))
	}
	for i, d := range ds {
		if d.Version != i+1 {
			t.Errorf("version %d at position %d", d.Version, i)
		}
	}
}

func TestOpenRepositoryCorrupt(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenRepository(dir, RepositoryOptions{}); err == nil {
		t.Error("OpenRepository accepted a corrupt index")
	}
	if err := os.WriteFile(filepath.Join(dir, "index.json"), []byte(`{"deployments":[{"processId":"p","version":1,"hash":"abc"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenRepository(dir, RepositoryOptions{}); err == nil {
		t.Error("OpenRepository accepted an index pointing at a missing file")
	}
}

func TestRepositoryCanceledContext(t *testing.T) {
	r := openRepo(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, _, err := r.Deploy(ctx, "f.bpmn", readTestdata(t, "valid/timers.bpmn")); !errors.Is(err, context.Canceled) {
		t.Errorf("Deploy with canceled context = %v", err)
	}
}
