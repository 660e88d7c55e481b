// Command worker takes report jobs off the queue and applies them to the
// usage counters (package worker). It only wires flags, HTTP and signals.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/perfrun/perfrun/system/queue"
	"github.com/perfrun/perfrun/system/worker"
)

func main() {
	code, err := run(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
	}
	os.Exit(code)
}

func run(args []string) (int, error) {
	host, _ := os.Hostname()
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	var (
		redisURL      = fs.String("redis", "redis://127.0.0.1:6379", "Redis URL (redis://HOST:PORT[/DB])")
		format        = fs.String("queue", "v1", "queue format to take jobs from: v1 (Resque list, at-most-once) or v2 (stream, exactly-once in effect)")
		concurrency   = fs.Int("concurrency", 8, "jobs worked on at once")
		jobWork       = fs.Duration("job-work", 0, "extra time each job takes before it is applied (for reproducible recipes)")
		consumer      = fs.String("consumer", host, "v2 consumer name (the pod name)")
		claimIdle     = fs.Duration("claim-idle", 30*time.Second, "v2: claim jobs pending on a consumer for this long")
		claimInterval = fs.Duration("claim-interval", 0, "v2: how often to look for jobs to claim (default claim-idle/2)")
		block         = fs.Duration("block", time.Second, "how long one take waits for a job before checking for shutdown")
		depthInterval = fs.Duration("depth-interval", time.Second, "how often to refresh apisonator_worker_queue_depth")
		listen        = fs.String("metrics-listen", "127.0.0.1:9394", "address for /metrics, /healthz, /readyz")
		grace         = fs.Duration("grace", 30*time.Second, "on SIGTERM, how long jobs in hand may take to finish")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, nil
		}
		return 2, err
	}
	f, err := queue.ParseFormat(*format)
	if err != nil {
		return 2, fmt.Errorf("-queue: %w", err)
	}
	opt, err := redis.ParseURL(*redisURL)
	if err != nil {
		return 2, fmt.Errorf("-redis: %w", err)
	}
	if *concurrency < 1 {
		return 2, fmt.Errorf("-concurrency: must be at least 1, got %d", *concurrency)
	}
	if *jobWork < 0 {
		return 2, fmt.Errorf("-job-work: must not be negative, got %v", *jobWork)
	}
	if *grace <= 0 {
		return 2, fmt.Errorf("-grace: must be positive, got %v", *grace)
	}
	// Every take loop blocks one connection; applies, acks, claims and
	// depth reads need a few more.
	opt.PoolSize = *concurrency + 8
	rdb := redis.NewClient(opt)
	defer rdb.Close()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("consumer", *consumer, "queue", f)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	w, err := worker.New(rdb, worker.Config{
		Format:        f,
		Concurrency:   *concurrency,
		JobWork:       *jobWork,
		Consumer:      *consumer,
		Block:         *block,
		ClaimIdle:     *claimIdle,
		ClaimInterval: *claimInterval,
		DepthInterval: *depthInterval,
		Logger:        log,
	}, reg)
	if err != nil {
		return 2, err
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return 1, fmt.Errorf("-metrics-listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(rw http.ResponseWriter, _ *http.Request) { fmt.Fprintln(rw, "ok") })
	mux.HandleFunc("/readyz", func(rw http.ResponseWriter, _ *http.Request) {
		if !w.Ready() {
			http.Error(rw, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(rw, "ok")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("serving metrics", "err", err)
		}
	}()
	log.Info("worker starting", "metrics", ln.Addr().String(), "concurrency", *concurrency, "job_work", *jobWork)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()

	code := 0
	select {
	case err = <-done: // could not start
		code = 1
	case <-ctx.Done():
		log.Info("stopping: finishing jobs in hand", "grace", *grace)
		select {
		case err = <-done:
		case <-time.After(*grace):
			err, code = fmt.Errorf("jobs in hand not finished within the %v grace period", *grace), 1
		}
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = srv.Shutdown(shutCtx)
	if err == nil {
		log.Info("stopped")
	}
	return code, err
}
