package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tracker-dev/tracker/actions"
	"github.com/tracker-dev/tracker/api"
	"github.com/tracker-dev/tracker/broker"
	"github.com/tracker-dev/tracker/config"
	"github.com/tracker-dev/tracker/correlate"
	"github.com/tracker-dev/tracker/engine"
	"github.com/tracker-dev/tracker/history"
	"github.com/tracker-dev/tracker/history/elastic"
	"github.com/tracker-dev/tracker/history/sqlite"
	"github.com/tracker-dev/tracker/incidents"
	"github.com/tracker-dev/tracker/models"
	"github.com/tracker-dev/tracker/simulator"
	"github.com/tracker-dev/tracker/ui"
)

// appOptions are what a command adds to the config.
type appOptions struct {
	Logger *slog.Logger
	Out    io.Writer // where the banner goes
	Demo   *demoOptions
	// ShutdownTimeout bounds the graceful shutdown (default 20s).
	ShutdownTimeout time.Duration
}

// demoOptions configure the embedded broker and the simulator of `tracker demo`.
type demoOptions struct {
	KafkaAddr string
	Rate      float64
	Seed      uint64
	Anomalies string
	Shares    simulator.Shares
}

// app is the whole tracker in one process: every component, wired in
// dependency order by setup, and stopped in reverse order.
type app struct {
	cfg  *config.Config
	opts appOptions
	log  *slog.Logger
	reg  *prometheus.Registry

	http      *api.Server
	broker    *broker.Broker
	sim       *simulator.Producer
	models    *models.Repository
	engine    *engine.Engine
	corr      *correlate.Consumer
	relay     *actions.Relay
	decider   *tableDecider
	history   *history.Service
	incidents *incidents.Store

	mu     sync.Mutex
	stops  []stopStep   // in build order; run in reverse
	checks []readyCheck // all must pass for /readyz
	failed chan error   // a component that stopped on its own
}

type stopStep struct {
	name string
	fn   func(context.Context) error
}

type readyCheck struct {
	name string
	fn   func() (bool, any)
}

// onStop registers how to stop the component just built.
func (a *app) onStop(name string, fn func(context.Context) error) {
	a.stops = append(a.stops, stopStep{name, fn})
}

// ready registers a readiness check.
func (a *app) ready(name string, fn func() (bool, any)) {
	a.checks = append(a.checks, readyCheck{name, fn})
}

// goRun runs fn in its own goroutine until stopped; stopping cancels its
// context and waits for it to return.
func (a *app) goRun(ctx context.Context, name string, fn func(context.Context) error) {
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := fn(cctx); err != nil && cctx.Err() == nil {
			select {
			case a.failed <- fmt.Errorf("%s: %w", name, err):
			default:
			}
		}
	}()
	a.onStop(name, func(sctx context.Context) error {
		cancel()
		select {
		case <-done:
			return nil
		case <-sctx.Done():
			return fmt.Errorf("%s did not stop in time", name)
		}
	})
}

func (a *app) readiness() (bool, map[string]any) {
	ok := true
	detail := map[string]any{}
	for _, c := range a.checks {
		r, d := c.fn()
		ok = ok && r
		detail[c.name] = map[string]any{"ready": r, "detail": d}
	}
	return ok, detail
}

// setup builds and starts every component in dependency order. On error it
// stops what it already started.
func setup(ctx context.Context, cfg *config.Config, opts appOptions) (_ *app, err error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 20 * time.Second
	}
	a := &app{cfg: cfg, opts: opts, log: opts.Logger, reg: prometheus.NewRegistry(), failed: make(chan error, 1)}
	defer func() {
		if err != nil {
			sctx, cancel := context.WithTimeout(context.Background(), opts.ShutdownTimeout)
			defer cancel()
			_ = a.shutdown(sctx)
		}
	}()
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir %s: %w", cfg.DataDir, err)
	}

	// 1. Embedded broker (demo only): the rest talks to it over TCP.
	if d := opts.Demo; d != nil {
		a.broker, err = broker.Start(broker.Options{
			Addr: d.KafkaAddr, DataDir: filepath.Join(cfg.DataDir, "broker"),
			Topics: append(append([]string{}, simulator.Topics...), "commands", "dead-letters"), Partitions: 4, Logger: a.log,
		})
		if err != nil {
			return nil, err
		}
		a.onStop("broker", func(context.Context) error { return a.broker.Close() })
		cfg.Kafka.Brokers = []string{a.broker.Addr()}
		a.ready("broker", func() (bool, any) { return true, a.broker.Addr() })
	}

	// 2. Model repository; the config's models (the demo's built-in one) deploy at start.
	a.models, err = models.OpenRepository(filepath.Join(cfg.DataDir, "models"), models.RepositoryOptions{
		MaxBytes: int64(cfg.Limits.MaxModelBytes), Logger: a.log,
	})
	if err != nil {
		return nil, fmt.Errorf("open model repository: %w", err)
	}
	if err := a.deployModels(ctx); err != nil {
		return nil, err
	}

	// 3. Decision table for uncorrelated events (none: every one becomes an incident).
	var builtin []byte
	if opts.Demo != nil {
		builtin = simulator.DecisionsDMN
	}
	a.decider, err = loadTableDecider(cfg.Decisions, filepath.Join(cfg.DataDir, "decisions"), builtin, a.log)
	if err != nil {
		return nil, err
	}
	a.goRun(ctx, "reload on SIGHUP", a.reloadOnHangup)

	// 4. Engine: state, timers, outbox and change feed in Pebble.
	a.engine, err = engine.Open(engine.Options{
		Dir: filepath.Join(cfg.DataDir, "engine"), Processes: a.models, Decider: a.decider,
		DedupeRetention: cfg.Engine.DedupeRetention.Duration, CacheSize: cfg.Engine.CacheSize, Logger: a.log,
		GroupCommit: groupCommit(cfg),
	})
	if err != nil {
		return nil, fmt.Errorf("open engine: %w", err)
	}
	a.onStop("engine", func(context.Context) error { return a.engine.Close() })
	a.reg.MustRegister(newEngineCollector(a.engine))
	a.ready("engine", func() (bool, any) { return true, "store open" })

	// 5. Actions relay: outbox → Kafka topics and webhooks. Built before the
	// consumer so that it stops after it, and before the engine closes.
	a.relay, err = actions.New(actions.Options{
		Outbox: a.engine, Kafka: cfg.Kafka, Targets: cfg.Targets, Registerer: a.reg, Logger: a.log,
	})
	if err != nil {
		return nil, fmt.Errorf("actions relay: %w", err)
	}
	a.goRun(ctx, "actions", a.relay.Run)
	a.ready("actions", func() (bool, any) { return a.relay.Ready() })
	if opts.Demo != nil {
		a.goRun(ctx, "action summary", a.actionSummary)
	}

	// 6. Incidents: projected from the engine's feed; retry re-runs correlation.
	redecode, err := newRedecoder(cfg.Sources)
	if err != nil {
		return nil, fmt.Errorf("incident retries: %w", err)
	}
	a.incidents, err = incidents.Open(incidents.Options{
		Dir: filepath.Join(cfg.DataDir, "incidents"), Feed: a.engine, Logger: a.log,
		Correlator: &incidents.EngineCorrelator{Engine: a.engine, Decode: redecode}, Actions: a.engine,
	})
	if err != nil {
		return nil, fmt.Errorf("open incidents: %w", err)
	}
	a.onStop("incidents store", func(context.Context) error { return a.incidents.Close() })
	a.goRun(ctx, "incidents", a.incidents.Run)
	a.ready("incidents", func() (bool, any) { return true, a.incidents.Status() })

	// 7. History (read model): projected from the engine's feed, asynchronously,
	// with its own checkpoint; the API reads only through it.
	var backend history.Backend
	switch cfg.History.Backend {
	case "elasticsearch":
		o, err := elastic.FromConfig(*cfg.History.Elasticsearch, os.Getenv)
		if err != nil {
			return nil, fmt.Errorf("elasticsearch history: %w", err)
		}
		o.Logger = a.log
		es, err := elastic.Open(ctx, o)
		if err != nil {
			return nil, fmt.Errorf("elasticsearch history: %w", err)
		}
		backend = es
		a.onStop("history store", func(context.Context) error { return es.Close() })
	default:
		store, err := sqlite.Open(sqlite.Options{Dir: filepath.Join(cfg.DataDir, "history"), Logger: a.log})
		if err != nil {
			return nil, fmt.Errorf("open history: %w", err)
		}
		backend = store
		a.onStop("history store", func(context.Context) error { return store.Close() })
	}
	proj, err := history.NewProjector(history.ProjectorOptions{
		Feed: a.engine, Backend: backend, Retention: cfg.History.Retention.Duration, Logger: a.log, Registerer: a.reg,
		Incidents: a.incidents,
	})
	if err != nil {
		return nil, fmt.Errorf("history projector: %w", err)
	}
	// Resolves and retries happen in the incident store, outside the feed:
	// it tells the projector, which keeps history's incidents current.
	a.incidents.Watch(proj)
	a.onStop("history catch-up", func(sctx context.Context) error { return proj.Sync(sctx) })
	a.goRun(ctx, "history", proj.Run)
	a.ready("history", func() (bool, any) { return true, proj.Status() })
	a.goRun(ctx, "feed trim", func(ctx context.Context) error {
		return a.trimFeed(ctx, time.Minute, func() uint64 { return min(proj.Status().Checkpoint, a.incidents.Status().Checkpoint) })
	})
	a.history, err = history.NewService(history.ServiceOptions{Backend: backend, Processes: a.models})
	if err != nil {
		return nil, fmt.Errorf("history service: %w", err)
	}

	// 8. Consumer: Kafka records and HTTP events → engine, in batches.
	a.corr, err = correlate.New(correlate.Options{
		Engine: a.engine, Kafka: cfg.Kafka, Sources: cfg.Sources, HTTP: cfg.HTTP,
		Logger: a.log, Registerer: a.reg, KnownMessage: a.models.UsesMessage,
		MaxPending: maxPending(groupCommit(cfg), cfg.Kafka.BatchSize),
	})
	if err != nil {
		return nil, fmt.Errorf("consumer: %w", err)
	}
	a.goRun(ctx, "consumer", a.corr.Run)
	a.ready("consumer", a.corr.Readiness)

	// 9. Simulator (demo only).
	if d := opts.Demo; d != nil && d.Rate > 0 {
		a.sim, err = simulator.NewProducer(simulator.ProducerOptions{
			Brokers: cfg.Kafka.Brokers, Gen: simulator.Options{Seed: d.Seed, Rate: d.Rate, Shares: &d.Shares}, Logger: a.log,
			StateFile: filepath.Join(cfg.DataDir, fmt.Sprintf("simulator-seed-%d.json", d.Seed)),
		})
		if err != nil {
			return nil, err
		}
		a.goRun(ctx, "simulator", a.sim.Run)
	}

	// 10. HTTP last: it only starts answering once everything behind it exists.
	tokens, err := resolveTokens(cfg.Auth)
	if err != nil {
		return nil, err
	}
	a.http, err = api.New(api.Options{Listen: cfg.Listen, Tokens: tokens, Gatherer: a.reg, Ready: a.readiness, Logger: a.log,
		MaxBodyBytes: max(int64(cfg.Limits.MaxModelBytes), int64(cfg.HTTP.MaxRequestBytes))})
	if err != nil {
		return nil, err
	}
	write := api.RequireRole(api.RoleOperator)
	api.ModelRoutes(a.http.API(), a.models, write)
	api.EventRoutes(a.http.API(), a.corr, write)
	api.IncidentRoutes(a.http.API(), a.incidents, write)
	api.DecisionRoutes(a.http.API(), a.decider, write)
	api.InstanceRoutes(a.http.API(), a.history, a.engine)
	api.HistoryRoutes(a.http.API(), a.history)
	api.ActionRoutes(a.http.API(), a.history.Backend())
	ui.Routes(a.http.Echo())
	if err := a.http.Start(); err != nil {
		return nil, err
	}
	a.onStop("http", a.http.Shutdown)
	return a, nil
}

// deployModels deploys the configured model files (for the demo, the built-in
// order-fulfillment model). Identical files are no-ops; any invalid model stops
// the start with its problems listed.
func (a *app) deployModels(ctx context.Context) error {
	type file struct {
		name string
		xml  []byte
	}
	var files []file
	if a.opts.Demo != nil {
		files = append(files, file{"order-fulfillment.bpmn", simulator.ModelXML})
	}
	for _, path := range a.cfg.Models {
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("read model: %w", err)
		}
		files = append(files, file{path, data})
	}
	for _, f := range files {
		ds, created, problems, err := a.models.DeployAll(ctx, f.name, f.xml)
		if models.HasErrors(problems) {
			return fmt.Errorf("model %s is invalid:\n%s", f.name, indent(models.Errors(problems).Error()))
		}
		if err != nil {
			return fmt.Errorf("deploy %s: %w", f.name, err)
		}
		for _, p := range problems {
			a.log.Warn("model warning", "file", f.name, "element", p.Element, "problem", p.Message)
		}
		if !created && len(ds) > 0 {
			a.log.Info("model unchanged", "process", ds[0].ProcessID, "version", ds[0].Version, "file", f.name)
		}
	}
	return nil
}

// resolveTokens reads API tokens from the environment variables the config names.
func resolveTokens(auth config.Auth) ([]api.Token, error) {
	var out []api.Token
	var errs []error
	for _, t := range auth.Tokens {
		v := os.Getenv(t.TokenEnv)
		if v == "" {
			errs = append(errs, fmt.Errorf("auth token %q: environment variable %s is empty or unset", t.Name, t.TokenEnv))
			continue
		}
		role, err := api.ParseRole(t.Role)
		if err != nil {
			errs = append(errs, fmt.Errorf("auth token %q: %w", t.Name, err))
			continue
		}
		out = append(out, api.Token{Name: t.Name, Value: v, Role: role})
	}
	return out, errors.Join(errs...)
}

// shutdown stops components in reverse build order, each bounded by ctx.
func (a *app) shutdown(ctx context.Context) error {
	a.mu.Lock()
	stops := a.stops
	a.stops = nil
	a.mu.Unlock()
	var errs []error
	for i := len(stops) - 1; i >= 0; i-- {
		s := stops[i]
		start := time.Now()
		if err := s.fn(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", s.name, err))
		}
		a.log.Debug("stopped", "component", s.name, "took", time.Since(start).Round(time.Millisecond))
	}
	return errors.Join(errs...)
}

// runApp runs the tracker until ctx ends (a signal) or a component fails.
func runApp(ctx context.Context, cfg *config.Config, opts appOptions) error {
	a, err := setup(ctx, cfg, opts)
	if err != nil {
		return err
	}
	a.banner()
	var runErr error
	select {
	case <-ctx.Done():
		a.log.Info("shutting down (a second signal exits at once)")
	case runErr = <-a.failed:
		a.log.Error("component failed, shutting down", "err", runErr)
	}
	sctx, cancel := context.WithTimeout(context.Background(), a.opts.ShutdownTimeout)
	defer cancel()
	if err := a.shutdown(sctx); err != nil {
		return errors.Join(runErr, err)
	}
	a.log.Info("stopped cleanly")
	return runErr
}

func (a *app) banner() {
	w := a.opts.Out
	if a.opts.Demo != nil {
		fmt.Fprintf(w, "tracker demo %s\n", version)
		fmt.Fprintf(w, "  broker     %s (embedded Kafka protocol, data in %s)\n", a.broker.Addr(), filepath.Join(a.cfg.DataDir, "broker"))
		if a.sim != nil {
			fmt.Fprintf(w, "  simulator  %g events/s, seed %d, topics orders payments warehouse shipping\n", a.opts.Demo.Rate, a.opts.Demo.Seed)
		}
	} else {
		fmt.Fprintf(w, "tracker %s\n", version)
		fmt.Fprintf(w, "  kafka      %v (group %s)\n", a.cfg.Kafka.Brokers, a.cfg.Kafka.GroupID)
	}
	var ms []string
	for _, d := range a.models.List() {
		ms = append(ms, fmt.Sprintf("%s v%d", d.ProcessID, d.Version))
	}
	fmt.Fprintf(w, "  models     %s\n", strings.Join(ms, ", "))
	fmt.Fprintf(w, "  data       %s\n", a.cfg.DataDir)
	fmt.Fprintf(w, "  UI         http://%s\n", a.http.Addr())
	fmt.Fprintf(w, "  API        http://%s/api/v1 · metrics http://%s/metrics\n", a.http.Addr(), a.http.Addr())
}

// actionSummary prints one line a minute with the actions sent (demo).
func (a *app) actionSummary(ctx context.Context) error {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	var last actions.Totals
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			now := a.relay.Totals()
			fmt.Fprintf(a.opts.Out, "%s actions: %d delivered, %d failed in the last minute (%d delivered in all)\n",
				time.Now().Format(time.TimeOnly), now.Delivered-last.Delivered, now.Failed-last.Failed, now.Delivered)
			last = now
		}
	}
}

// reloadOnHangup re-reads the decision table on SIGHUP; a bad table is
// reported and the old one stays in force.
func (a *app) reloadOnHangup(ctx context.Context) error {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	defer signal.Stop(ch)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ch:
			if err := a.decider.Reload(); err != nil {
				a.log.Error("SIGHUP", "err", err)
			}
		}
	}
}

// trimFeed removes change-feed entries that every feed reader (history,
// incidents) has durably processed, so the feed does not grow without bound.
func (a *app) trimFeed(ctx context.Context, every time.Duration, processed func() uint64) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if upTo := processed(); upTo > 0 {
				if err := a.engine.TrimFeed(ctx, upTo+1); err != nil && ctx.Err() == nil {
					a.log.Warn("trim change feed", "err", err)
				}
			}
		}
	}
}

// maxPending is how many batches the consumer applies before the oldest is
// durable: twice the batches of an engine group commit, so one group fills
// while the previous one commits.
func maxPending(groupCommit, batchSize int) int {
	if groupCommit <= batchSize || batchSize <= 0 {
		return 1
	}
	return 2 * ((groupCommit + batchSize - 1) / batchSize)
}

// groupCommit is engine.group_commit, or its default for a config that did
// not go through config.Load.
func groupCommit(cfg *config.Config) int {
	if cfg.Engine.GroupCommit == nil {
		return config.DefaultGroupCommit
	}
	return *cfg.Engine.GroupCommit
}
