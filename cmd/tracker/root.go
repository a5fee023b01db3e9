package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tracker-dev/tracker/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// exitCode is an error that only carries a process exit code (the command has
// already printed what went wrong).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit code %d", int(e)) }

func asExit(err error, ec *exitCode) bool { return errors.As(err, ec) }

func newRootCmd() *cobra.Command {
	var logLevel, logFormat string
	root := &cobra.Command{
		Use:   "tracker",
		Short: "Track business processes across choreographed microservices",
		Long: `tracker consumes domain events from Kafka, correlates them onto BPMN process models,
sends events it cannot correlate through a decision table (ignore, or raise an incident),
raises timeout actions (a delay notice after 14 days, a cancel-order command after 21),
indexes history for search and serves dashboards on the BPMN diagram.

Start with 'tracker demo': everything embedded, UI on http://127.0.0.1:8080.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().StringVar(&logFormat, "log-format", "text", "log format: text or json")
	logger := func(w io.Writer) (*slog.Logger, error) { return newLogger(w, logLevel, logFormat) }
	root.AddCommand(newDemoCmd(logger), newServeCmd(logger), newValidateCmd(), newDecideCmd(), newVersionCmd(), newBenchCmd())
	return root
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", format)
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the tracker's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rev := "unknown"
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" {
						rev = s.Value
					}
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "tracker %s (commit %s, %s %s/%s)\n", version, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}

func newServeCmd(logger func(io.Writer) (*slog.Logger, error)) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "serve --config FILE",
		Short: "Run the tracker against a real Kafka cluster, as configured",
		Long: `serve runs the tracker with the configuration in FILE (YAML, see docs/CONFIG.md):
it deploys the listed models, consumes the configured topics, correlates events,
raises actions and serves the API and UI. TRACKER_* environment variables override
settings from the file (e.g. TRACKER_KAFKA_BROKERS=host1:9092,host2:9092).
SIGINT/SIGTERM shut down gracefully; a second signal exits at once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return errors.New("serve needs --config FILE (see docs/CONFIG.md; 'tracker demo' needs none)")
			}
			log, err := logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			cfg, err := config.Load(file, os.Environ())
			if err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "config %s is invalid:\n%s\n", file, indent(err.Error()))
				return exitCode(1)
			}
			return runApp(cmd.Context(), cfg, appOptions{Logger: log, Out: cmd.OutOrStdout()})
		},
	}
	cmd.Flags().StringVarP(&file, "config", "c", "", "config file (YAML)")
	return cmd
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}
