package migration

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/perfrun/perfrun/system/queue"
	"github.com/perfrun/perfrun/system/redistest"
	"github.com/perfrun/perfrun/system/usage"
)

func pushV1(t *testing.T, rdb redis.UniversalClient, from, n int) []string {
	t.Helper()
	p := queue.NewProducer(rdb, queue.V1)
	ids := make([]string, 0, n)
	for i := from; i < from+n; i++ {
		id := fmt.Sprintf("r%06d", i)
		r := usage.Report{ID: id, ServiceID: "s", AppID: "a", Usage: map[string]int64{"hits": 1}, Timestamp: time.Now()}
		if err := p.Enqueue(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// takeAllV2 reads every job off the V2 stream with a fresh consumer.
func takeAllV2(t *testing.T, rdb redis.UniversalClient) []string {
	t.Helper()
	ctx := context.Background()
	c, err := queue.NewConsumer(ctx, rdb, queue.V2, queue.ConsumerOptions{Name: "reader", Block: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for {
		j, err := c.Take(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if j == nil {
			return ids
		}
		if j.Invalid != nil {
			t.Fatalf("migrated job does not decode: %v", j.Invalid)
		}
		ids = append(ids, j.Report.ID)
		if err := c.Done(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOnceMovesEveryJobOnceInOrder(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Start(t).Client(t)
	want := pushV1(t, rdb, 0, 1200)
	reg := prometheus.NewRegistry()
	m, err := New(rdb, Options{BatchSize: 500}, reg)
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Mode != "once" || res.Moved != 1200 || res.Batches != 3 || res.V1Remaining != 0 || res.V2Length != 1200 || res.Interrupted {
		t.Errorf("result = %+v, want once, 1200 moved in 3 batches, v1 0, v2 1200", res)
	}
	if got := counter(t, reg, "perfrun_migration_jobs_moved_total"); got != 1200 {
		t.Errorf("perfrun_migration_jobs_moved_total = %v, want 1200", got)
	}
	// Run twice: nothing more to move, nothing doubled.
	m2, _ := New(rdb, Options{}, nil)
	res, err = m2.Run(ctx)
	if err != nil || res.Moved != 0 || res.V2Length != 1200 {
		t.Errorf("second run = %+v, %v; want 0 moved and v2 still 1200", res, err)
	}
	got := takeAllV2(t, rdb)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("v2 holds %d jobs, want the %d v1 jobs once each, in order", len(got), len(want))
	}
}

// TestFailedBatchKeepsJobs: a script that fails halfway must leave the jobs
// in V1 (the list is trimmed only after every job was added).
func TestFailedBatchKeepsJobs(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Start(t).Client(t)
	pushV1(t, rdb, 0, 10)
	rdb.Set(ctx, queue.V2Stream, "not a stream", 0)
	if _, _, err := MoveBatch(ctx, rdb, 5); err == nil {
		t.Fatal("MoveBatch onto a string key: no error")
	}
	if n := rdb.LLen(ctx, queue.V1Key).Val(); n != 10 {
		t.Errorf("v1 holds %d jobs after a failed batch, want all 10", n)
	}
}

func TestDrainFollowsProducersUntilQuiet(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Start(t).Client(t)
	var wg sync.WaitGroup
	var lastPush time.Time
	wg.Go(func() {
		for i := range 10 {
			time.Sleep(40 * time.Millisecond)
			pushV1(t, rdb, i*20, 20)
		}
		lastPush = time.Now()
	})
	m, _ := New(rdb, Options{Drain: true, Quiet: 300 * time.Millisecond, Poll: 20 * time.Millisecond, BatchSize: 7}, nil)
	res, err := m.Run(ctx)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if res.Moved != 200 || res.V1Remaining != 0 || res.Mode != "drain" {
		t.Errorf("drain result = %+v, want all 200 moved", res)
	}
	if res.FinishedAt.Before(lastPush.Add(300 * time.Millisecond)) {
		t.Errorf("drain ended %v after the last push, want at least the 300ms quiet period", res.FinishedAt.Sub(lastPush))
	}
	ids := takeAllV2(t, rdb)
	sort.Strings(ids)
	for i := 1; i < len(ids); i++ {
		if ids[i] == ids[i-1] {
			t.Fatalf("job %s moved twice", ids[i])
		}
	}
}

func TestInterruptedRunReports(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	pushV1(t, rdb, 0, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	m, _ := New(rdb, Options{Drain: true, Quiet: time.Hour, Poll: 10 * time.Millisecond}, nil)
	res, err := m.Run(ctx)
	if err == nil || !res.Interrupted || res.Moved != 3 || res.V2Length != 3 {
		t.Errorf("interrupted drain = %+v, %v; want an error, interrupted, 3 moved", res, err)
	}
}

func TestOptionsValidated(t *testing.T) {
	for _, o := range []Options{{BatchSize: -1}, {Quiet: -time.Second}, {Poll: -time.Second}} {
		if _, err := New(nil, o, nil); err == nil {
			t.Errorf("New(%+v): no error", o)
		}
	}
}

func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s registered", name)
	return 0
}
