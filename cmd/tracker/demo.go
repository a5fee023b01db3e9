package main

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/tracker-dev/tracker/config"
	"github.com/tracker-dev/tracker/simulator"
)

func newDemoCmd(logger func(io.Writer) (*slog.Logger, error)) *cobra.Command {
	cfg := config.Default()
	d := &demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run everything embedded: Kafka-protocol broker, order-fulfillment model, simulator, UI",
		Long: `demo runs the whole product on one machine with nothing to install:
  - an embedded Kafka-protocol broker on --kafka (default 127.0.0.1:9092), data under --data-dir
  - the order-fulfillment model and the uncorrelated-events decision table
  - a simulator producing order traffic to orders, payments, warehouse and shipping at --rate
    events/s, with realistic anomalies (stalled and back-dated orders, missing steps,
    out-of-order arrival, duplicates, unknown orders, malformed JSON, heartbeats)
  - the tracker consuming those topics over TCP, as it would a real cluster
  - the UI and API on --listen (default http://127.0.0.1:8080)
A restarted demo keeps its topics, offsets and state. Ctrl-C stops it gracefully.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if d.Shares, err = simulator.ParseShares(d.Anomalies); err != nil {
				return fmt.Errorf("--anomalies: %w", err)
			}
			cfg.Kafka.Brokers = []string{d.KafkaAddr}
			demoSources(cfg)
			return runApp(cmd.Context(), cfg, appOptions{Logger: log, Out: cmd.OutOrStdout(), Demo: d})
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Listen, "listen", config.DefaultListen, "HTTP address for the UI and API")
	f.StringVar(&d.KafkaAddr, "kafka", "127.0.0.1:9092", "address of the embedded Kafka-protocol broker")
	f.StringVar(&cfg.DataDir, "data-dir", config.DefaultDataDir, "directory for broker data, engine state and history")
	f.Float64Var(&d.Rate, "rate", 50, "simulator events per second (0 = no simulator)")
	f.Uint64Var(&d.Seed, "seed", 1, "simulator seed: the same seed produces the same traffic")
	f.StringVar(&d.Anomalies, "anomalies", simulator.DefaultShares.String(),
		"simulator anomaly shares, name=fraction,... (order shares: stall, missing, out-of-order, backdated; event shares: duplicate, unknown, malformed, noise)")
	return cmd
}

// demoSources maps the simulator's topics as shared/examples/tracker.yaml does.
func demoSources(cfg *config.Config) {
	ttl := config.Dur(time.Hour)
	cfg.Sources = []config.Source{{
		Name: "orders", Topics: simulator.Topics, Format: "auto",
		MessageName: "$.type", CorrelationKey: "$.orderId", MessageID: "$.id", EventTime: "$.time", Variables: "$.data",
		BufferTTL: &ttl, MaxEventBytes: config.DefaultMaxEventBytes, DeadLetter: "dead-letters",
	}}
	cfg.Targets = map[string]config.Target{"commands": {KafkaTopic: "commands", Timeout: config.Dur(10 * time.Second)}}
}
