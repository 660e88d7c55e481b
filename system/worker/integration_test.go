package worker_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/perfrun/perfrun/system/proctest"
	"github.com/perfrun/perfrun/system/queue"
	"github.com/perfrun/perfrun/system/redistest"
	"github.com/perfrun/perfrun/system/usage"
)

// workerBin is bin/worker built from this tree for the integration tests.
var workerBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "perfrun-worker-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	workerBin, err = proctest.Build(dir, "github.com/perfrun/perfrun/system/cmd/worker")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	svc = "svc-int"
	app = "app-int"
)

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// enqueue puts n reports of hits=1 on the queue of format f.
func enqueue(t *testing.T, rdb redis.UniversalClient, f queue.Format, n int) {
	t.Helper()
	p := queue.NewProducer(rdb, f)
	ctx := context.Background()
	for range n {
		r := usage.Report{ID: newID(), ServiceID: svc, AppID: app, Usage: map[string]int64{"hits": 1}, Timestamp: time.Now()}
		if err := p.Enqueue(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
}

func hits(t *testing.T, rdb redis.UniversalClient) int64 {
	t.Helper()
	tot, err := usage.NewStore(rdb).Totals(context.Background(), svc, app)
	if err != nil {
		t.Fatal(err)
	}
	return tot["hits"]
}

func depth(t *testing.T, rdb redis.UniversalClient, f queue.Format) int64 {
	t.Helper()
	n, err := queue.Depth(context.Background(), rdb, f)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// The recipe both kill tests share: N reports, 8 jobs at a time that each
// take 20ms in hand, SIGKILL once a quarter of them are applied. N is large
// enough that the rest takes ~4 s: with 600 (1.1 s left) a loaded machine
// once polled and killed only after every job was applied, and v1 "lost 0".
const (
	recipeN           = 2000
	recipeConcurrency = 8
	recipeJobWork     = "20ms"
	recipeKillAfter   = recipeN / 4
)

// TestV1SIGKILLLosesJobs is the known-bad behaviour of the old release, kept
// honest: a V1 worker killed with jobs in hand loses them, at most one per
// unit of concurrency, and nothing brings them back.
func TestV1SIGKILLLosesJobs(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	url := "redis://" + rdb.Options().Addr
	enqueue(t, rdb, queue.V1, recipeN)

	w1 := proctest.StartWorker(t, workerBin, "-redis", url, "-queue", "v1",
		"-concurrency", fmt.Sprint(recipeConcurrency), "-job-work", recipeJobWork, "-consumer", "w1")
	proctest.Eventually(t, 20*time.Second, "a quarter of the jobs applied", func() bool { return hits(t, rdb) >= recipeKillAfter })
	w1.Kill(t)

	w2 := proctest.StartWorker(t, workerBin, "-redis", url, "-queue", "v1", "-consumer", "w2")
	proctest.Eventually(t, 20*time.Second, "v1 queue drained", func() bool { return depth(t, rdb, queue.V1) == 0 })
	if err := w2.Term(t, 10*time.Second); err != nil {
		t.Fatalf("worker after SIGTERM: %v", err)
	}
	applied := hits(t, rdb)
	lost := recipeN - applied
	t.Logf("v1: enqueued %d, applied %d, lost %d to one SIGKILL", recipeN, applied, lost)
	if lost < 1 {
		t.Errorf("v1 lost %d jobs to SIGKILL, want > 0: the jobs in hand of a killed v1 worker must be gone", lost)
	}
	if lost > recipeConcurrency {
		t.Errorf("v1 lost %d jobs, want at most %d (one in hand per unit of concurrency)", lost, recipeConcurrency)
	}
}

// TestV2SIGKILLLosesNothing runs the same recipe on the new release: the
// killed worker's pending jobs are claimed by the next one; every report
// counts exactly once.
func TestV2SIGKILLLosesNothing(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	url := "redis://" + rdb.Options().Addr
	enqueue(t, rdb, queue.V2, recipeN)

	w1 := proctest.StartWorker(t, workerBin, "-redis", url, "-queue", "v2",
		"-concurrency", fmt.Sprint(recipeConcurrency), "-job-work", recipeJobWork, "-consumer", "w1", "-claim-idle", "1s")
	proctest.Eventually(t, 20*time.Second, "a quarter of the jobs applied", func() bool { return hits(t, rdb) >= recipeKillAfter })
	w1.Kill(t)
	pending, err := rdb.XPending(context.Background(), queue.V2Stream, queue.V2Group).Result()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("v2: killed w1 with %d jobs pending on it", pending.Count)

	w2 := proctest.StartWorker(t, workerBin, "-redis", url, "-queue", "v2", "-consumer", "w2",
		"-claim-idle", "1s", "-claim-interval", "200ms", "-depth-interval", "100ms")
	proctest.Eventually(t, 20*time.Second, "v2 stream drained and acknowledged", func() bool { return depth(t, rdb, queue.V2) == 0 })
	claimed := w2.Metric(t, "apisonator_worker_jobs_claimed_total")
	jobs := w2.Metric(t, `apisonator_worker_job_count{type="ReportJob"}`)
	dups := w2.Metric(t, "apisonator_worker_duplicate_jobs_total")
	proctest.Eventually(t, 5*time.Second, "depth gauge refreshed to 0", func() bool {
		return w2.Metric(t, `apisonator_worker_queue_depth{format="v2"}`) == 0
	})
	if err := w2.Term(t, 10*time.Second); err != nil {
		t.Fatalf("worker after SIGTERM: %v", err)
	}

	applied := hits(t, rdb)
	t.Logf("v2: enqueued %d, applied %d; w2 claimed %v, processed %v, skipped %v duplicates", recipeN, applied, claimed, jobs, dups)
	if applied != recipeN {
		t.Errorf("v2 applied %d of %d reports after a SIGKILL, want exactly %d (no loss, no double)", applied, recipeN, recipeN)
	}
	if pending.Count > 0 && claimed < 1 {
		t.Errorf("w2 claimed %v jobs, want the %d left pending by the killed worker", claimed, pending.Count)
	}
	if pending.Count < 1 {
		t.Errorf("killed worker had no job pending; the recipe did not kill it with jobs in hand")
	}
	// Every period saw each report once too, not just eternity.
	day, err := usage.NewStore(rdb).Read(context.Background(), svc, app, usage.Day, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if day["hits"] != recipeN {
		t.Errorf("day usage = %d, want %d", day["hits"], recipeN)
	}
}

// TestSIGTERMFinishesJobsInHand: a clean stop loses nothing even on V1, and
// exits 0 within the grace period.
func TestSIGTERMFinishesJobsInHand(t *testing.T) {
	for _, f := range queue.Formats {
		t.Run(string(f), func(t *testing.T) {
			rdb := redistest.Start(t).Client(t)
			url := "redis://" + rdb.Options().Addr
			const n = 300
			enqueue(t, rdb, f, n)
			w := proctest.StartWorker(t, workerBin, "-redis", url, "-queue", string(f),
				"-concurrency", "8", "-job-work", "50ms", "-consumer", "w1", "-grace", "5s")
			proctest.Eventually(t, 20*time.Second, "some jobs applied", func() bool { return hits(t, rdb) >= 40 })
			start := time.Now()
			if err := w.Term(t, 8*time.Second); err != nil {
				t.Fatalf("exit after SIGTERM: %v (want status 0)", err)
			}
			took := time.Since(start)
			applied, left := hits(t, rdb), depth(t, rdb, f)
			t.Logf("%s: stopped in %v; applied %d, left in queue %d", f, took, applied, left)
			if applied+left != n {
				t.Errorf("applied %d + left %d = %d, want %d: a clean stop must finish the jobs in hand", applied, left, applied+left, n)
			}
			if left == 0 {
				t.Errorf("queue empty after stop: the worker kept taking jobs after SIGTERM")
			}
			if f == queue.V2 {
				p, _ := rdb.XPending(context.Background(), queue.V2Stream, queue.V2Group).Result()
				if p.Count != 0 {
					t.Errorf("%d jobs pending after a clean stop, want 0 (all in hand acknowledged)", p.Count)
				}
			}
		})
	}
}
