package elastic

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tracker-dev/tracker/config"
	"github.com/tracker-dev/tracker/history"
	"github.com/tracker-dev/tracker/history/historytest"
)

func TestOptionsValidate(t *testing.T) {
	neg := -1
	tests := []struct {
		name string
		o    Options
		want []string // every line of the joined error, in order
	}{
		{"defaults are valid", Options{URLs: []string{"http://127.0.0.1:9200"}}, nil},
		{"several nodes and credentials in the URL", Options{URLs: []string{"https://u:p@es1:9200", "https://es2:9200"}}, nil},
		{"no URL", Options{}, []string{"elasticsearch option URLs: at least one URL is required, e.g. http://127.0.0.1:9200"}},
		{"bad URLs", Options{URLs: []string{"127.0.0.1:9200", "ftp://x", "http://"}}, []string{
			`elasticsearch option URLs[0]: invalid URL "127.0.0.1:9200": expected http(s)://host:port`,
			`elasticsearch option URLs[1]: invalid URL "ftp://x": expected http(s)://host:port`,
			`elasticsearch option URLs[2]: invalid URL "http://": expected http(s)://host:port`,
		}},
		{"uppercase prefix", Options{URLs: []string{"http://h:9200"}, IndexPrefix: "Tracker"}, []string{`elasticsearch option IndexPrefix: "Tracker" must be lowercase`}},
		{"prefix starting with underscore", Options{URLs: []string{"http://h:9200"}, IndexPrefix: "_t"}, []string{`elasticsearch option IndexPrefix: "_t" must not start with -, _, + or .`}},
		{"prefix with a comma", Options{URLs: []string{"http://h:9200"}, IndexPrefix: "a,b"}, []string{`elasticsearch option IndexPrefix: "a,b" must not contain \ / * ? " < > | space , # :`}},
		{"API key and password", Options{URLs: []string{"http://h:9200"}, APIKey: "k", Username: "u", Password: "p"}, []string{
			"elasticsearch option APIKey: set either an API key or a username and password, not both"}},
		{"password without user", Options{URLs: []string{"http://h:9200"}, Password: "p"}, []string{"elasticsearch option Password: a password needs a username"}},
		{"missing CA file", Options{URLs: []string{"https://h:9200"}, CAFile: "testdata/nope.pem"}, []string{
			"elasticsearch option CAFile: read CA file: open testdata/nope.pem: no such file or directory"}},
		{"CA file without a certificate", Options{URLs: []string{"https://h:9200"}, CAFile: "testdata/bad-ca.pem"}, []string{
			"elasticsearch option CAFile: CA file testdata/bad-ca.pem holds no PEM certificate"}},
		{"negative sizes", Options{URLs: []string{"http://h:9200"}, Shards: -1, Replicas: &neg, BulkWorkers: -2, MaxBackoff: -time.Second}, []string{
			"elasticsearch option Shards: must not be negative (got -1)",
			"elasticsearch option Replicas: must not be negative (got -1)",
			"elasticsearch option Bulk: sizes must not be negative (actions 1000, bytes 5242880, workers -2)",
			"elasticsearch option MaxBackoff: must not be negative (got -1s)",
		}},
		{"refresh interval", Options{URLs: []string{"http://h:9200"}, RefreshInterval: "1 second"}, []string{
			`elasticsearch option RefreshInterval: "1 second" is not an Elasticsearch time value such as 1s, 500ms or -1`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.withDefaults().validate()
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			// Open reports the same problems without sending anything.
			if len(tc.want) > 0 {
				if _, err := Open(context.Background(), tc.o); err == nil || !strings.Contains(err.Error(), tc.want[0]) {
					t.Errorf("Open error = %v, want it to contain %q", err, tc.want[0])
				}
			}
		})
	}
}

func TestFromConfig(t *testing.T) {
	env := map[string]string{"ES_PASSWORD": "s3cret", "ES_KEY": "a2V5"}
	getenv := func(k string) string { return env[k] }
	tests := []struct {
		name string
		c    config.Elasticsearch
		want Options
		err  string
	}{
		{"basic auth", config.Elasticsearch{URLs: []string{"https://es:9200"}, IndexPrefix: "t", Username: "u", PasswordEnv: "ES_PASSWORD", CAFile: "ca.pem", Sniff: true, Healthcheck: true},
			Options{URLs: []string{"https://es:9200"}, IndexPrefix: "t", Username: "u", Password: "s3cret", CAFile: "ca.pem", Sniff: true, Healthcheck: true}, ""},
		{"api key", config.Elasticsearch{URLs: []string{"https://es:9200"}, APIKeyEnv: "ES_KEY"},
			Options{URLs: []string{"https://es:9200"}, APIKey: "a2V5"}, ""},
		{"unset variables", config.Elasticsearch{URLs: []string{"https://es:9200"}, PasswordEnv: "NOPE", APIKeyEnv: "NOKEY"}, Options{},
			"history.elasticsearch.password_env: environment variable NOPE is empty or unset\nhistory.elasticsearch.api_key_env: environment variable NOKEY is empty or unset"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FromConfig(tc.c, getenv)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("options = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	b := backoff{max: time.Second, retries: 4}
	var got []time.Duration
	for retry := 1; ; retry++ {
		d, ok := b.Next(retry)
		if !ok {
			break
		}
		got = append(got, d)
	}
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond}
	if len(got) != len(want) {
		t.Fatalf("waits = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("waits = %v, want %v", got, want)
		}
	}
	if d, _ := (backoff{max: 300 * time.Millisecond, retries: 9}).Next(5); d != 300*time.Millisecond {
		t.Errorf("wait capped at max = %v, want 300ms", d)
	}
	if _, ok := (backoff{max: time.Second, retries: 9, giveUp: func() bool { return true }}).Next(1); ok {
		t.Error("backoff retries after giveUp said stop")
	}
	// A closing backend and a cancelled Apply both stop the retries.
	be := &Backend{}
	if be.giveUp() {
		t.Error("giveUp before anything happened")
	}
	ctx, cancel := context.WithCancel(context.Background())
	be.applyDone = ctx.Done()
	cancel()
	if !be.giveUp() {
		t.Error("giveUp = false after the Apply context was cancelled")
	}
	be = &Backend{}
	be.closing.Store(true)
	if !be.giveUp() {
		t.Error("giveUp = false while closing")
	}
}

func TestText(t *testing.T) {
	in := newInstanceDoc(inst10())
	if in.Text != "ORD-4711 ORD-4711" {
		t.Errorf("instance text = %q", in.Text)
	}
	ev := newEventDoc(sampleEvent())
	if want := "e1#dup9 e1 OrderPlaced ORD-1 true kettle 3 x y"; ev.Text != want {
		t.Errorf("event text = %q, want %q", ev.Text, want)
	}
	var long textBuilder
	for range maxText {
		long.add("word")
	}
	if long.Len() > maxText {
		t.Errorf("text grew to %d bytes, cap %d", long.Len(), maxText)
	}
}

func sampleEvent() history.Event {
	e := historytest.Ev("e1#dup9", "OrderPlaced", "ORD-1", "duplicate", 1, t0, `{"qty":3,"item":"kettle","gift":true,"tags":["x","y"],"none":null}`)
	e.MessageID = "e1"
	return e
}
