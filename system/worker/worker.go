// Package worker takes report jobs off a queue and applies them to the usage
// counters: Apisonator's backend worker, with a V1 (at-most-once) or V2
// (exactly-once in effect) queue underneath.
//
// One Worker runs Concurrency loops, each taking one job at a time, doing
// the optional extra work, applying the report and then acknowledging it.
// For V2 one more loop claims jobs left pending by consumers that went quiet
// (a dead pod) and applies them the same way.
//
// Stopping (the context given to Run is cancelled, on SIGTERM) stops taking
// new jobs; the jobs in hand are finished and acknowledged. Redis calls are
// never cancelled midway: a BLPOP cut off by a cancelled context could pop a
// job server-side that no one then applies, turning a clean stop into loss.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/perfrun/perfrun/system/queue"
	"github.com/perfrun/perfrun/system/usage"
)

// Config is what a worker is told.
type Config struct {
	// Format is the queue format to take from.
	Format queue.Format
	// Concurrency is how many jobs the process works on at once.
	Concurrency int
	// JobWork is extra time each job takes before it is applied (waiting,
	// as a job waits on I/O), so that recipes can make jobs slow on purpose
	// and reproducibly: a job is "in hand" for this long.
	JobWork time.Duration
	// Consumer is the V2 consumer name (the pod name).
	Consumer string
	// Block is how long one take waits for a job before the loop checks
	// whether it should stop (V1 rounds it up to whole seconds).
	Block time.Duration
	// ClaimIdle is how long a V2 job must have been pending on a consumer
	// before another may claim it. Longer than the slowest job, or living
	// workers' jobs get claimed too (harmless, but counted as duplicates).
	ClaimIdle time.Duration
	// ClaimInterval is how often the V2 claim loop looks (default ClaimIdle/2).
	ClaimInterval time.Duration
	// DepthInterval is how often the queue depth gauges are refreshed.
	DepthInterval time.Duration
	// Logger gets one line per failure; nil logs to slog.Default.
	Logger *slog.Logger
}

func (c *Config) defaults() error {
	if _, err := queue.ParseFormat(string(c.Format)); err != nil {
		return fmt.Errorf("worker config: %w", err)
	}
	if c.Concurrency < 1 {
		return fmt.Errorf("worker config: concurrency must be at least 1, got %d", c.Concurrency)
	}
	if c.JobWork < 0 {
		return fmt.Errorf("worker config: job work must not be negative, got %v", c.JobWork)
	}
	if c.Format == queue.V2 && c.Consumer == "" {
		return fmt.Errorf("worker config: a consumer name is required for the v2 queue")
	}
	if c.Block <= 0 {
		c.Block = time.Second
	}
	if c.ClaimIdle <= 0 {
		c.ClaimIdle = 30 * time.Second
	}
	if c.ClaimInterval <= 0 {
		c.ClaimInterval = c.ClaimIdle / 2
	}
	if c.DepthInterval <= 0 {
		c.DepthInterval = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Worker applies report jobs.
type Worker struct {
	cfg   Config
	rdb   redis.UniversalClient
	store *usage.Store
	m     *metrics
	ready atomic.Bool
}

// New returns a worker on rdb with its metrics registered on reg.
func New(rdb redis.UniversalClient, cfg Config, reg prometheus.Registerer) (*Worker, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &Worker{cfg: cfg, rdb: rdb, store: usage.NewStore(rdb), m: m}, nil
}

// Ready says the worker is connected and taking jobs.
func (w *Worker) Ready() bool { return w.ready.Load() }

// Run takes and applies jobs until ctx is done, then finishes the jobs in
// hand and returns. It returns an error only when it could not start.
func (w *Worker) Run(ctx context.Context) error {
	// Work in hand must outlive ctx: it is finished after ctx is done.
	work := context.WithoutCancel(ctx)
	c, err := queue.NewConsumer(ctx, w.rdb, w.cfg.Format, queue.ConsumerOptions{Block: w.cfg.Block, Name: w.cfg.Consumer})
	if err != nil {
		return fmt.Errorf("starting worker: %w", err)
	}
	if err := w.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("starting worker: redis: %w", err)
	}

	var wg sync.WaitGroup
	for range w.cfg.Concurrency {
		wg.Go(func() { w.takeLoop(ctx, work, c) })
	}
	if cl, ok := c.(queue.Claimer); ok {
		wg.Go(func() { w.claimLoop(ctx, work, c, cl) })
	}
	depthDone := make(chan struct{})
	go func() { defer close(depthDone); w.depthLoop(ctx) }()

	w.ready.Store(true)
	<-ctx.Done()
	w.ready.Store(false)
	wg.Wait()
	<-depthDone
	return nil
}

func (w *Worker) takeLoop(stop, work context.Context, c queue.Consumer) {
	for stop.Err() == nil {
		j, err := c.Take(work)
		if err != nil {
			w.cfg.Logger.Error("taking a job", "format", c.Format(), "err", err)
			sleep(stop, time.Second) // Redis away: do not spin
			continue
		}
		if j != nil {
			w.process(work, c, j)
		}
	}
}

// claimLoop takes over jobs pending on quiet consumers, scanning the whole
// pending list every ClaimInterval.
func (w *Worker) claimLoop(stop, work context.Context, c queue.Consumer, cl queue.Claimer) {
	t := time.NewTicker(w.cfg.ClaimInterval)
	defer t.Stop()
	for {
		select {
		case <-stop.Done():
			return
		case <-t.C:
		}
		cursor := "0-0"
		for stop.Err() == nil {
			jobs, next, err := cl.Claim(work, w.cfg.ClaimIdle, cursor, 100)
			if err != nil {
				w.cfg.Logger.Error("claiming idle jobs", "err", err)
				break
			}
			w.m.claimed.Add(float64(len(jobs)))
			for _, j := range jobs {
				// Claimed jobs are in hand too: finish them even when
				// asked to stop.
				w.process(work, c, j)
			}
			if next == "0-0" {
				break
			}
			cursor = next
		}
	}
}

// process works on one job in hand: extra work, apply, acknowledge.
func (w *Worker) process(ctx context.Context, c queue.Consumer, j *queue.Job) {
	start := time.Now()
	if j.Invalid != nil {
		// Nothing will ever decode it: drop it rather than redeliver
		// it forever, and say so.
		w.cfg.Logger.Error("dropping an invalid job", "format", c.Format(), "err", j.Invalid, "payload", truncate(j.Raw, 200))
		w.m.failed.WithLabelValues(j.Type).Inc()
		if err := c.Done(ctx, j); err != nil {
			w.cfg.Logger.Error("acknowledging an invalid job", "err", err)
		}
		return
	}
	if w.cfg.JobWork > 0 {
		time.Sleep(w.cfg.JobWork)
	}
	applied, err := w.store.Apply(ctx, j.Report, c.Dedupe())
	if err != nil {
		// V2: left pending, claimed and retried later. V1: the job is
		// gone, as a Resque job that raised is (at-most-once).
		w.cfg.Logger.Error("applying a job", "format", c.Format(), "report", j.Report.ID, "err", err)
		w.m.failed.WithLabelValues(j.Type).Inc()
		return
	}
	if !applied && c.Dedupe() && len(j.Report.Usage) > 0 {
		w.m.duplicates.Inc()
	}
	if err := c.Done(ctx, j); err != nil {
		// Applied but not acknowledged: it will be claimed and found
		// applied already.
		w.cfg.Logger.Error("acknowledging a job", "report", j.Report.ID, "err", err)
	}
	w.m.jobs.WithLabelValues(j.Type).Inc()
	w.m.runtime.WithLabelValues(j.Type).Observe(time.Since(start).Seconds())
}

// depthLoop refreshes the depth of both formats' queues, so that during an
// upgrade every worker shows the old queue draining and the new one filling.
func (w *Worker) depthLoop(stop context.Context) {
	t := time.NewTicker(w.cfg.DepthInterval)
	defer t.Stop()
	for {
		for _, f := range queue.Formats {
			n, err := queue.Depth(stop, w.rdb, f)
			if err != nil {
				if !errors.Is(err, context.Canceled) {
					w.cfg.Logger.Error("reading queue depth", "err", err)
				}
				continue
			}
			w.m.depth.WithLabelValues(string(f)).Set(float64(n))
		}
		select {
		case <-stop.Done():
			return
		case <-t.C:
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
