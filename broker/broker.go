// Package broker runs an embedded Kafka-protocol broker (github.com/twmb/franz-go/pkg/kfake)
// for `tracker demo`, benchmarks and tests.
//
// The tracker itself never calls into this package to move data: it talks to
// the broker with kafka-go over TCP, exactly as it would to a real cluster.
// With a data directory the broker keeps its topics and committed offsets
// across restarts.
package broker

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Options configure [Start].
type Options struct {
	// Addr is host:port to listen on; port 0 picks a free port. Default 127.0.0.1:9092.
	Addr string
	// DataDir keeps topics and offsets on disk when set; empty = in memory only.
	DataDir string
	// Topics are created at start (if missing) with Partitions partitions each.
	Topics []string
	// Partitions per seeded or auto-created topic (default 4).
	Partitions int
	Logger     *slog.Logger
}

// Broker is a running embedded broker.
type Broker struct {
	c    *kfake.Cluster
	addr string
}

// Start starts the broker and returns once it accepts connections.
func Start(opts Options) (*Broker, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:9092"
	}
	if opts.Partitions <= 0 {
		opts.Partitions = 4
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	host, portStr, err := net.SplitHostPort(opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("embedded broker address %q: %w", opts.Addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("embedded broker address %q: bad port", opts.Addr)
	}
	kopts := []kfake.Opt{
		kfake.Ports(port),
		kfake.ClusterID("tracker-demo"),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(opts.Partitions),
		kfake.WithLogger(logger{opts.Logger}),
		kfake.ListenFn(func(network, address string) (net.Listener, error) {
			_, p, _ := net.SplitHostPort(address)
			return net.Listen(network, net.JoinHostPort(host, p))
		}),
	}
	if len(opts.Topics) > 0 {
		kopts = append(kopts, kfake.SeedTopics(int32(opts.Partitions), opts.Topics...))
	}
	if opts.DataDir != "" {
		kopts = append(kopts, kfake.DataDir(opts.DataDir))
	}
	c, err := kfake.NewCluster(kopts...)
	if err != nil {
		return nil, fmt.Errorf("start embedded broker on %s: %w", opts.Addr, err)
	}
	addrs := c.ListenAddrs()
	if len(addrs) == 0 {
		c.Close()
		return nil, fmt.Errorf("start embedded broker on %s: no listener", opts.Addr)
	}
	_, p, _ := net.SplitHostPort(addrs[0])
	return &Broker{c: c, addr: net.JoinHostPort(host, p)}, nil
}

// Addr returns the host:port clients connect to.
func (b *Broker) Addr() string { return b.addr }

// Close stops the broker, flushing its data directory.
func (b *Broker) Close() error {
	b.c.Close()
	return nil
}

// Run blocks until ctx ends, then closes the broker.
func (b *Broker) Run(ctx context.Context) error {
	<-ctx.Done()
	return b.Close()
}

// logger routes kfake's log lines into slog.
type logger struct{ l *slog.Logger }

func (l logger) Logf(level kfake.LogLevel, msg string, args ...any) {
	var lv slog.Level
	switch level {
	case kfake.LogLevelError:
		lv = slog.LevelError
	case kfake.LogLevelWarn:
		lv = slog.LevelWarn
	case kfake.LogLevelInfo:
		lv = slog.LevelDebug // kfake logs every request at info
	default:
		lv = slog.LevelDebug - 4
	}
	if l.l.Enabled(context.Background(), lv) {
		l.l.Log(context.Background(), lv, fmt.Sprintf(msg, args...), "component", "broker")
	}
}
