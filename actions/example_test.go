package actions_test

import (
	"context"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tracker-dev/tracker/actions"
	"github.com/tracker-dev/tracker/config"
	"github.com/tracker-dev/tracker/engine"
)

// How the tracker wires the relay: the engine is the outbox, the config
// names the brokers and targets. Stop the relay (cancel ctx and wait for Run)
// before closing the engine.
func ExampleNew() {
	var eng *engine.Engine // opened with engine.Open
	cfg := &config.Config{
		Kafka:   config.Kafka{Brokers: []string{"127.0.0.1:9092"}},
		Targets: map[string]config.Target{"commands": {KafkaTopic: "commands"}},
	}
	if eng == nil {
		return // a sketch: nothing to run here
	}
	relay, err := actions.New(actions.Options{
		Outbox: eng, Kafka: cfg.Kafka, Targets: cfg.Targets,
		Registerer: prometheus.NewRegistry(), Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	if err != nil {
		slog.Error("build actions relay", "err", err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go relay.Run(ctx) //nolint:errcheck // the app reports Run's error
	ready, status := relay.Ready()
	_, _ = ready, status
}
