// Command worker takes report jobs off the queue and applies them to the
// usage counters (package worker). It only wires flags, HTTP and signals.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/perfrun/perfrun/system/ops"
	"github.com/perfrun/perfrun/system/queue"
	"github.com/perfrun/perfrun/system/redisopt"
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
	opt, err := redisopt.ParseURL(*redisURL)
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
	reg := ops.NewRegistry()
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

	srv, err := ops.Serve(*listen, "-metrics-listen", ops.Handler(reg, ops.ReadyFunc(w.Ready, "not taking jobs")), log)
	if err != nil {
		return 1, err
	}
	log.Info("worker starting", "metrics", srv.Addr, "concurrency", *concurrency, "job_work", *jobWork)

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
	srv.Stop()
	if err == nil {
		log.Info("stopped")
	}
	return code, err
}
