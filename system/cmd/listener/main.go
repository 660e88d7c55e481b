// Command listener serves the reference system's Apisonator-compatible API.
package main

import (
	"cmp"
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
	"github.com/perfrun/perfrun/system/redisopt"
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
	syncMode := flag.Bool("sync", false, "serve one request at a time, each waiting on its Redis round trips (as Apisonator's single-threaded Puma listener): a process that cannot use its core, for the core-utilization pair's known-bad mode; probes and /metrics are not held")
	internalAddr := flag.String("internal-listen", "", "serve the internal API (/internal/) on this address only (empty: on -listen, beside the public API)")
	d := listener.DefaultLimits
	var lim listener.Limits
	flag.DurationVar(&lim.ReadHeaderTimeout, "read-header-timeout", d.ReadHeaderTimeout, "longest a client may take to send a request's headers")
	flag.DurationVar(&lim.ReadTimeout, "read-timeout", d.ReadTimeout, "longest a client may take to send a whole request, body included")
	flag.DurationVar(&lim.WriteTimeout, "write-timeout", d.WriteTimeout, "longest from the end of a request's headers to the end of its answer")
	flag.DurationVar(&lim.IdleTimeout, "idle-timeout", d.IdleTimeout, "an idle keep-alive connection is closed after this long")
	flag.IntVar(&lim.MaxHeaderBytes, "max-header-bytes", d.MaxHeaderBytes, "largest request line and headers (431 above)")
	flag.Int64Var(&lim.MaxBody, "max-body", d.MaxBody, "largest body of POST /transactions.xml (413 above, nothing applied)")
	flag.Int64Var(&lim.MaxInternalBody, "max-internal-body", d.MaxInternalBody, "largest body of an internal API request (413 above)")
	flag.Parse()
	for name, v := range map[string]time.Duration{"read-header-timeout": lim.ReadHeaderTimeout, "read-timeout": lim.ReadTimeout,
		"write-timeout": lim.WriteTimeout, "idle-timeout": lim.IdleTimeout} {
		if v <= 0 {
			return fmt.Errorf("-%s: must be > 0, got %v", name, v)
		}
	}
	if lim.MaxHeaderBytes <= 0 || lim.MaxBody <= 0 || lim.MaxInternalBody <= 0 {
		return errors.New("-max-header-bytes, -max-body and -max-internal-body must be > 0")
	}
	// Apisonator's names (openshift/3scale_backend.conf): with either set,
	// the internal API asks for HTTP basic authentication.
	auth := listener.BasicAuth{User: os.Getenv("CONFIG_INTERNAL_API_USER"), Password: os.Getenv("CONFIG_INTERNAL_API_PASSWORD")}

	f, err := queue.ParseFormat(*queueFormat)
	if err != nil {
		return fmt.Errorf("-queue: %w", err)
	}
	if *cpuThreshold < 0 {
		return fmt.Errorf("-ready-cpu-threshold: must be >= 0, got %v", *cpuThreshold)
	}
	opt, err := redisopt.ParseURL(*redisURL)
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
	api := &internalapi.API{Catalog: cat, Usage: use, Items: items.NewStore(rdb).Handler(), Version: listener.Version}
	srv := listener.New(listener.Options{
		Transactor:    &apisonator.Transactor{Catalog: cat, Usage: use, Queue: queue.NewProducer(rdb, f)},
		Metrics:       listener.NewMetrics(reg),
		Gatherer:      reg,
		Internal:      api.Handler(),
		Logger:        log,
		ReadyCheck:    gate.Check,
		Limits:        lim,
		InternalAuth:  auth,
		InternalApart: *internalAddr != "",
		Sync:          *syncMode,
	})
	servers := []*http.Server{srv.HTTPServer(*addr, srv.Handler())}
	if *internalAddr != "" {
		servers = append(servers, srv.HTTPServer(*internalAddr, srv.InternalHandler()))
	}

	errc := make(chan error, len(servers))
	for _, hs := range servers {
		go func() { errc <- hs.ListenAndServe() }()
	}
	log.Info("listener serving", "addr", *addr, "internal", cmp.Or(*internalAddr, *addr), "internal_auth", auth.Enabled(), "queue", f, "redis", opt.Addr, "sync", *syncMode)

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
	for _, hs := range servers {
		if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("shutting down %s: %w", hs.Addr, err)
		}
	}
	log.Info("listener stopped")
	return nil
}
