// Command listener serves the reference system's Apisonator-compatible API.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/perfrun/perfrun/system/apisonator"
	"github.com/perfrun/perfrun/system/catalog"
	"github.com/perfrun/perfrun/system/internalapi"
	"github.com/perfrun/perfrun/system/items"
	"github.com/perfrun/perfrun/system/listener"
	"github.com/perfrun/perfrun/system/ops"
	"github.com/perfrun/perfrun/system/queue"
	"github.com/perfrun/perfrun/system/usage"
	"github.com/redis/go-redis/v9"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "listener:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("listen", "127.0.0.1:3000", "address to serve on")
	redisURL := flag.String("redis", "redis://127.0.0.1:6379", "Redis URL")
	queueFormat := flag.String("queue", "v2", "report queue format: v1 (Resque list) or v2 (stream)")
	cpuThreshold := flag.Float64("ready-cpu-threshold", 0, "readiness fails while CPU use is above this many cores (0: off)")
	grace := flag.Duration("grace", 10*time.Second, "how long SIGTERM waits for in-flight requests")
	drainDelay := flag.Duration("drain-delay", 0, "after SIGTERM, keep serving this long while not ready, so endpoints drop the pod before it stops accepting")
	poolSize := flag.Int("redis-pool", 0, "Redis connection pool size (0: 10 per CPU)")
	flag.Parse()

	f, err := queue.ParseFormat(*queueFormat)
	if err != nil {
		return fmt.Errorf("-queue: %w", err)
	}
	if *cpuThreshold < 0 {
		return fmt.Errorf("-ready-cpu-threshold: must be >= 0, got %v", *cpuThreshold)
	}
	opt, err := redis.ParseURL(*redisURL)
	if err != nil {
		return fmt.Errorf("-redis: %w", err)
	}
	if *poolSize > 0 {
		opt.PoolSize = *poolSize
	} else {
		opt.PoolSize = 10 * runtime.GOMAXPROCS(0)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	reg := ops.NewRegistry()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	gate := listener.NewCPUGate(*cpuThreshold)
	go gate.Run(ctx, time.Second)

	cat := catalog.NewStore(rdb)
	use := usage.NewStore(rdb)
	api := &internalapi.API{Catalog: cat, Usage: use, Items: items.NewStore(rdb).Handler()}
	srv := listener.New(listener.Options{
		Transactor: &apisonator.Transactor{Catalog: cat, Usage: use, Queue: queue.NewProducer(rdb, f)},
		Metrics:    listener.NewMetrics(reg),
		Gatherer:   reg,
		Internal:   api.Handler(),
		Logger:     log,
		ReadyCheck: gate.Check,
	})
	hs := &http.Server{Addr: *addr, Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}

	errc := make(chan error, 1)
	go func() { errc <- hs.ListenAndServe() }()
	log.Info("listener serving", "addr", *addr, "queue", f, "redis", opt.Addr)

	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	// SIGTERM: stop being ready, give the endpoints time to notice, then stop
	// accepting and finish in-flight requests.
	srv.SetReady(false)
	if *drainDelay > 0 {
		log.Info("draining", "delay", *drainDelay)
		time.Sleep(*drainDelay)
	}
	sctx, cancel := context.WithTimeout(context.Background(), *grace)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutting down: %w", err)
	}
	log.Info("listener stopped")
	return nil
}
