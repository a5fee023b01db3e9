package main

import (
	"testing"

	"github.com/tracker-dev/tracker/config"
)

func defaultDemoConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	return cfg
}
