// Command tracker correlates domain events from Kafka onto BPMN process models
// and serves the end-to-end view. See `tracker --help`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go forceOnSecondSignal(ctx)
	if err := newRootCmd().ExecuteContext(ctx); err != nil {
		var ec exitCode
		if asExit(err, &ec) {
			os.Exit(int(ec))
		}
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// forceOnSecondSignal exits at once when a second SIGINT/SIGTERM arrives
// while a graceful shutdown is under way.
func forceOnSecondSignal(ctx context.Context) {
	<-ctx.Done()
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	<-ch
	fmt.Fprintln(os.Stderr, "second signal: exiting without finishing the shutdown")
	os.Exit(2)
}
