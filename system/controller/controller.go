// Package controller is perfrun's reference controller: it reconciles the
// items of package items, each replica only the keys whose bucket it owns,
// sharded as knative/pkg and Tekton controllers shard (see package sharding).
//
// Every replica reads every item event (package items' stream, as every
// informer sees every object), keeps the keys whose bucket (knative's
// ChooseSubset over the bucket names) it owns now, and reconciles them: a
// configurable amount of work, then the item records who reconciled it, when,
// and through which bucket. A periodic resync lists the items never
// reconciled and reconciles those it owns, which is how a restarted replica,
// or one that just took a bucket over, catches up.
//
// Which buckets a replica owns is its elector's business: in statefulset mode
// the one bucket of its ordinal, for ever; in leader-election mode whichever
// bucket leases it holds (package lease).
package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/perfrun/perfrun/system/items"
	"github.com/perfrun/perfrun/system/lease"
	"github.com/perfrun/perfrun/system/sharding"
)

// Controller is one replica.
type Controller struct {
	cfg     Config
	rdb     redis.UniversalClient
	store   *items.Store
	buckets *sharding.BucketSet
	metrics *metrics
	log     *slog.Logger
	queue   *workQueue

	mu   sync.RWMutex
	held map[string]bool // buckets owned now

	resyncNow chan struct{} // a bucket was gained: catch its keys up now
	ready     atomic.Bool
}

// New makes a replica; its metrics are registered on reg.
func New(rdb redis.UniversalClient, cfg Config, reg prometheus.Registerer, log *slog.Logger) (*Controller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.WatchBlock <= 0 {
		cfg.WatchBlock = time.Second
	}
	if cfg.PendingEvery <= 0 {
		cfg.PendingEvery = time.Second
	}
	m, err := newMetrics(reg, cfg.Pod, cfg.Mode)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	return &Controller{
		cfg:       cfg,
		rdb:       rdb,
		store:     items.NewStore(rdb),
		buckets:   sharding.NewBucketSet(cfg.BucketNames()),
		metrics:   m,
		log:       log.With("pod", cfg.Pod, "mode", string(cfg.Mode)),
		queue:     newWorkQueue(),
		held:      map[string]bool{},
		resyncNow: make(chan struct{}, 1),
	}, nil
}

// Ready reports whether the replica has started watching and done its first
// resync: from then on it sees every new item.
func (c *Controller) Ready() bool { return c.ready.Load() }

// Held lists the buckets the replica owns now, sorted.
func (c *Controller) Held() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]string, 0, len(c.held))
	for b := range c.held {
		out = append(out, b)
	}
	slices.Sort(out)
	return out
}

// owner returns the bucket of key and whether this replica owns it now.
func (c *Controller) owner(key string) (string, bool) {
	b := c.buckets.Owner(key)
	c.mu.RLock()
	defer c.mu.RUnlock()
	return b, c.held[b]
}

// promote makes the replica owner of bucket and catches the bucket's keys up
// (knative's Promote re-enqueues every key of the bucket).
func (c *Controller) promote(bucket string) {
	c.mu.Lock()
	c.held[bucket] = true
	n := len(c.held)
	c.mu.Unlock()
	c.metrics.bucketsHeld.Set(float64(n))
	c.log.Info("owning bucket", "bucket", bucket, "held", n)
	select {
	case c.resyncNow <- struct{}{}:
	default: // one is already due
	}
}

// demote drops bucket; its keys are left to its new owner.
func (c *Controller) demote(bucket string) {
	c.mu.Lock()
	delete(c.held, bucket)
	n := len(c.held)
	c.mu.Unlock()
	c.metrics.bucketsHeld.Set(float64(n))
	c.log.Info("lost bucket", "bucket", bucket, "held", n)
}

// Run runs the replica until ctx ends, then stops taking work, lets the
// reconciles in hand finish, releases its leases and returns. Call it once.
// While Redis cannot be reached at start it retries (not ready meanwhile).
func (c *Controller) Run(ctx context.Context) error {
	// List-then-watch, as an informer does: note where the event stream is
	// now, then resync (the list), then read events after the noted point.
	// An item created in between is seen twice and reconciled once.
	var after string
	for {
		var err error
		if after, err = c.store.LastEventID(ctx); err == nil {
			break
		}
		c.log.Error("starting the item watch, retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}

	var el elector
	switch c.cfg.Mode {
	case StatefulSet:
		el = &ordinalElector{buckets: c.cfg.OwnedBuckets()}
		if c.cfg.SplitBrain {
			c.log.Warn("split-brain (known-bad mode): owning another ordinal's bucket too, while its pod owns it", "buckets", c.cfg.OwnedBuckets())
		}
	case LeaderElection:
		lc, err := lease.New(c.rdb, c.cfg.Pod, c.cfg.LeaseDuration)
		if err != nil {
			return fmt.Errorf("lease client: %w", err)
		}
		el = &leaseElector{leases: lc, buckets: c.cfg.BucketNames(), retry: c.cfg.LeaseRetry, log: c.log}
	}

	// The elector outlives the workers: leases are released only once the
	// reconciles in hand are recorded, so the next owner never redoes them.
	electCtx, stopElector := context.WithCancel(context.WithoutCancel(ctx))
	defer stopElector()
	var wg sync.WaitGroup
	var electorDone sync.WaitGroup
	electorDone.Add(1)
	go func() {
		defer electorDone.Done()
		el.run(electCtx, c.promote, c.demote)
	}()

	wg.Add(1)
	go func() {
		defer wg.Done()
		c.watch(ctx, after)
	}()

	wg.Add(1)
	go func() {
		defer wg.Done()
		c.resyncLoop(ctx)
	}()

	wg.Add(1)
	go func() {
		defer wg.Done()
		c.pendingLoop(ctx)
	}()

	var workers sync.WaitGroup
	for range c.cfg.Threads {
		workers.Add(1)
		go func() {
			defer workers.Done()
			c.work(ctx)
		}()
	}

	<-ctx.Done()
	c.ready.Store(false)
	c.queue.shutDown()
	workers.Wait() // reconciles in hand finish and record
	wg.Wait()
	stopElector()
	electorDone.Wait() // leases released
	c.metrics.bucketsHeld.Set(0)
	return nil
}

// watch queues the owned keys of every item event after the given ID. A
// failed read (Redis restarting, say) is retried from the last event seen;
// meanwhile the resync keeps the replica correct, only slower.
func (c *Controller) watch(ctx context.Context, after string) {
	for {
		err := c.store.Watch(ctx, after, c.cfg.WatchBlock, func(ev items.Event) error {
			after = ev.ID
			if _, mine := c.owner(ev.Key); mine {
				c.queue.add(ev.Key)
			}
			return nil
		})
		if ctx.Err() != nil {
			return
		}
		c.log.Error("item watch failed, retrying", "after", after, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (c *Controller) resyncLoop(ctx context.Context) {
	t := time.NewTicker(c.cfg.Resync)
	defer t.Stop()
	c.resync(ctx)
	c.ready.Store(true)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.resyncNow:
		}
		c.resync(ctx)
	}
}

// resync queues every pending key this replica owns.
func (c *Controller) resync(ctx context.Context) {
	queued := 0
	err := c.store.ListPending(ctx, func(key string) error {
		if _, mine := c.owner(key); mine {
			c.queue.add(key)
			queued++
		}
		return ctx.Err()
	})
	if err != nil && ctx.Err() == nil {
		c.log.Error("resync", "err", err)
		return
	}
	if queued > 0 {
		c.log.Debug("resync queued pending keys", "keys", queued)
	}
}

func (c *Controller) pendingLoop(ctx context.Context) {
	t := time.NewTicker(c.cfg.PendingEvery)
	defer t.Stop()
	for {
		if n, err := c.store.PendingCount(ctx); err == nil {
			c.metrics.pending.Set(float64(n))
		} else if ctx.Err() == nil {
			c.log.Error("counting pending items", "err", err)
		}
		if n, err := c.store.SharedCount(ctx); err == nil {
			c.metrics.shared.Set(float64(n))
		} else if ctx.Err() == nil {
			c.log.Error("counting shared items", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (c *Controller) work(ctx context.Context) {
	for {
		key, ok := c.queue.get()
		if !ok {
			return
		}
		// Record with a context that outlives shutdown: a reconcile whose
		// work is done is recorded, not lost.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if err := c.reconcile(rctx, key); err != nil {
			c.log.Error("reconcile", "key", key, "err", err)
		}
		cancel()
		c.queue.done(key)
	}
}

// reconcile does one key's work if this replica still owns it and it was
// never reconciled, then records the reconcile.
func (c *Controller) reconcile(ctx context.Context, key string) error {
	bucket, mine := c.owner(key)
	if !mine {
		return nil // the bucket moved since the key was queued
	}
	it, err := c.store.Get(ctx, key)
	if errors.Is(err, items.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if it.Reconciled() {
		// The desired state holds: nothing to do. Seen twice (event and
		// resync) by this pod, that is all; reconciled by another pod, this
		// one still acted as the key's owner, and is recorded among its
		// reconcilers: a reconcile that finds nothing to do is a reconcile
		// of the key all the same, and it is how two owners show when the
		// second never races the first.
		if slices.Contains(it.Reconcilers, c.cfg.Pod) {
			return nil
		}
		m, err := c.store.RecordReconciler(ctx, key, c.cfg.Pod)
		if err != nil {
			return err
		}
		c.countForeign(m, key, it.ReconciledBy)
		return nil
	}
	doWork(c.cfg.WorkKind, c.cfg.Work)
	now := time.Now()
	m, err := c.store.MarkReconciled(ctx, key, c.cfg.Pod, bucket, now)
	if err != nil {
		return err
	}
	c.countForeign(m, key, "")
	c.metrics.reconciles.Inc()
	c.metrics.latency.Observe(now.Sub(it.CreatedAt).Seconds())
	return nil
}

// countForeign counts a key this pod reconciled after another pod had.
func (c *Controller) countForeign(m items.Mark, key, by string) {
	if !m.Foreign {
		return
	}
	c.metrics.foreign.Inc()
	c.log.Debug("reconciled a key another pod reconciled too", "key", key, "reconcilers", m.Reconcilers, "last", by)
}

// doWork spends d: spinning on the CPU, or sleeping.
func doWork(kind WorkKind, d time.Duration) {
	if d <= 0 {
		return
	}
	if kind == Sleep {
		time.Sleep(d)
		return
	}
	end := time.Now().Add(d)
	x := uint64(1)
	for time.Now().Before(end) {
		for range 1000 {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	_ = x // the clock reads alone keep the loop spinning until d has passed
}
