package controller

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/perfrun/perfrun/system/items"
	"github.com/perfrun/perfrun/system/redistest"
	"github.com/perfrun/perfrun/system/sharding"
)

// In-process replicas on a real Redis: the Run loop's goroutines under the
// race detector, and the metrics it moves.
func TestRunTwoReplicasInProcess(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	store := items.NewStore(rdb)
	ctx := context.Background()

	// Items that exist before the replicas start come through the first
	// resync (the list); the rest through events (the watch).
	var keys []string
	for i := range 100 {
		k := fmt.Sprintf("early-%03d", i)
		keys = append(keys, k)
		if _, _, err := store.Create(ctx, k); err != nil {
			t.Fatal(err)
		}
	}

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	type replica struct {
		c    *Controller
		reg  *prometheus.Registry
		done chan error
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var reps []replica
	for i := range 2 {
		cfg := DefaultConfig()
		cfg.Mode, cfg.Replicas, cfg.Ordinal, cfg.StatefulSet = StatefulSet, 2, i, testNaming
		cfg.Pod = fmt.Sprintf("controller-%d", i)
		cfg.Work, cfg.WorkKind, cfg.Resync = time.Millisecond, Sleep, 200*time.Millisecond
		cfg.WatchBlock, cfg.PendingEvery = 100*time.Millisecond, 50*time.Millisecond
		reg := prometheus.NewRegistry()
		c, err := New(rdb, cfg, reg, quiet)
		if err != nil {
			t.Fatal(err)
		}
		r := replica{c: c, reg: reg, done: make(chan error, 1)}
		go func() { r.done <- c.Run(runCtx) }()
		reps = append(reps, r)
	}
	for _, r := range reps {
		waitFor(t, "ready", r.c.Ready)
		if len(r.c.Held()) != 1 {
			t.Fatalf("%s holds %v, want one bucket", r.c.cfg.Pod, r.c.Held())
		}
	}
	for i := range 200 {
		k := fmt.Sprintf("late-%03d", i)
		keys = append(keys, k)
		if _, _, err := store.Create(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "every item reconciled", func() bool {
		n, err := store.PendingCount(ctx)
		return err == nil && n == 0
	})

	names, _ := testNaming.Buckets(0, 2)
	bs := sharding.NewBucketSet(names)
	perPod := map[string]float64{}
	for _, k := range keys {
		it, err := store.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		want := "controller-0"
		if bs.Owner(k) == testNaming.BucketName(1) {
			want = "controller-1"
		}
		if it.ReconciledBy != want || it.Reconciles != 1 {
			t.Fatalf("%s reconciled by %q %d times, want %s once", k, it.ReconciledBy, it.Reconciles, want)
		}
		perPod[want]++
	}
	for _, r := range reps {
		pod := r.c.cfg.Pod
		if got := value(t, r.c.metrics.reconciles); got != perPod[pod] {
			t.Errorf("%s reconciles_total = %v, want %v", pod, got, perPod[pod])
		}
		if got := value(t, r.c.metrics.bucketsHeld); got != 1 {
			t.Errorf("%s buckets_held = %v, want 1", pod, got)
		}
		if got := latencyCount(t, r.reg); got != uint64(perPod[pod]) {
			t.Errorf("%s latency histogram count = %d, want %v", pod, got, perPod[pod])
		}
		waitFor(t, "items_pending to read 0", func() bool { return value(t, r.c.metrics.pending) == 0 })
	}

	stop()
	for _, r := range reps {
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run returned %v after cancel, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return within 5s of cancel")
		}
		if r.c.Ready() || value(t, r.c.metrics.bucketsHeld) != 0 {
			t.Errorf("%s still ready or holding buckets after stop", r.c.cfg.Pod)
		}
	}
}

// BenchmarkCatchUp measures how fast one replica with no work per item
// reconciles a backlog (list, get, mark), all against a real Redis:
// the ceiling of the controller's own overhead.
func BenchmarkCatchUp(b *testing.B) {
	srv := redistest.Start(b)
	rdb := srv.Client(b)
	store := items.NewStore(rdb)
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		if err := rdb.FlushAll(ctx).Err(); err != nil {
			b.Fatal(err)
		}
		const n = 2000
		for j := range n {
			if _, _, err := store.Create(ctx, fmt.Sprintf("k-%d-%d", i, j)); err != nil {
				b.Fatal(err)
			}
		}
		cfg := DefaultConfig()
		cfg.Mode, cfg.Replicas, cfg.Ordinal, cfg.Pod, cfg.StatefulSet = StatefulSet, 1, 0, "controller-0", testNaming
		cfg.Work, cfg.Threads, cfg.Resync = 0, 4, time.Hour
		c, err := New(rdb, cfg, prometheus.NewRegistry(), quiet)
		if err != nil {
			b.Fatal(err)
		}
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		b.StartTimer()
		start := time.Now()
		go func() { done <- c.Run(runCtx) }()
		for {
			if n, _ := store.PendingCount(ctx); n == 0 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "reconciles/s")
		b.StopTimer()
		stop()
		<-done
		b.StartTimer()
	}
}

// value reads a single-series counter or gauge.
func value(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	var m dto.Metric
	if err := (<-ch).Write(&m); err != nil {
		t.Fatal(err)
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}

func latencyCount(t *testing.T, g prometheus.Gatherer) uint64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "perfrun_controller_reconcile_latency_seconds" {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	t.Fatal("no perfrun_controller_reconcile_latency_seconds")
	return 0
}
