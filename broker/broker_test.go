package broker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// TestRestartKeepsTopicsAndOffsets produces to the broker over TCP, commits a
// group offset halfway, restarts the broker on the same data dir and checks
// that the records are still there and the group resumes where it committed.
func TestRestartKeepsTopicsAndOffsets(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	b, err := Start(Options{Addr: "127.0.0.1:0", DataDir: dir, Topics: []string{"orders"}, Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	w := &kafka.Writer{Addr: kafka.TCP(b.Addr()), BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireAll}
	msgs := make([]kafka.Message, 100)
	for i := range msgs {
		msgs[i] = kafka.Message{Topic: "orders", Key: []byte("k"), Value: []byte(fmt.Sprintf("v%03d", i))}
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	w.Close()

	read := func(addr string, n int) []string {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, GroupID: "g", Topic: "orders",
			StartOffset: kafka.FirstOffset, SessionTimeout: 6 * time.Second, MaxWait: 100 * time.Millisecond})
		defer r.Close()
		var got []string
		for len(got) < n {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				t.Fatalf("fetch after %d: %v", len(got), err)
			}
			got = append(got, string(m.Value))
			if err := r.CommitMessages(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		return got
	}
	first := read(b.Addr(), 50)
	if first[0] != "v000" || first[49] != "v049" {
		t.Fatalf("first read: %v…%v", first[0], first[49])
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b2, err := Start(Options{Addr: "127.0.0.1:0", DataDir: dir, Topics: []string{"orders"}, Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	rest := read(b2.Addr(), 50)
	if rest[0] != "v050" || rest[49] != "v099" {
		t.Fatalf("after restart the group resumed at %s (want v050) and ended at %s", rest[0], rest[49])
	}
}

func TestStartErrors(t *testing.T) {
	for addr, want := range map[string]string{
		"nope":        `embedded broker address "nope": address nope: missing port in address`,
		"127.0.0.1:x": `embedded broker address "127.0.0.1:x": bad port`,
	} {
		if _, err := Start(Options{Addr: addr}); err == nil || err.Error() != want {
			t.Errorf("Start(%q) = %v, want %s", addr, err, want)
		}
	}
}
