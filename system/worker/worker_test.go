package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/perfrun/perfrun/system/queue"
	"github.com/perfrun/perfrun/system/redistest"
	"github.com/perfrun/perfrun/system/usage"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func counterValue(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
			return sum
		}
	}
	return 0
}

func TestConfigErrorsNameTheSetting(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Format: "v9", Concurrency: 1}, "queue format"},
		{Config{Format: queue.V1}, "concurrency"},
		{Config{Format: queue.V1, Concurrency: 1, JobWork: -time.Second}, "job work"},
		{Config{Format: queue.V2, Concurrency: 1}, "consumer name"},
	} {
		_, err := New(nil, c.cfg, prometheus.NewRegistry())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v) error = %v, want it to name %q", c.cfg, err, c.want)
		}
	}
}

// TestV2DuplicateDeliveryCountsOnce: the same report delivered twice (as
// after a claim of a job whose first holder applied it but died before
// acknowledging) is applied once and counted as a duplicate.
func TestV2DuplicateDeliveryCountsOnce(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := usage.Report{ID: "dup-1", ServiceID: "s", AppID: "a", Usage: map[string]int64{"hits": 5}, Timestamp: time.Now()}
	p := queue.NewProducer(rdb, queue.V2)
	for range 2 {
		if err := p.Enqueue(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	w, err := New(rdb, Config{Format: queue.V2, Concurrency: 2, Consumer: "t", Block: 20 * time.Millisecond, Logger: quiet}, reg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for rdb.XLen(ctx, queue.V2Stream).Val() != 0 || counterValue(t, reg, "apisonator_worker_job_count") < 2 {
		if time.Now().After(deadline) {
			t.Fatal("jobs not processed within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	tot, _ := usage.NewStore(rdb).Totals(context.Background(), "s", "a")
	if tot["hits"] != 5 {
		t.Errorf("hits = %d after a report delivered twice, want 5", tot["hits"])
	}
	if d := counterValue(t, reg, "apisonator_worker_duplicate_jobs_total"); d != 1 {
		t.Errorf("duplicates = %v, want 1", d)
	}
	if w.Ready() {
		t.Error("worker still ready after it stopped")
	}
}

// TestInvalidJobIsDropped: a payload nothing can decode leaves the queue,
// is counted as a failure, and does not stop the worker.
func TestInvalidJobIsDropped(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rdb.XAdd(ctx, &redis.XAddArgs{Stream: queue.V2Stream, Values: []string{"report", "{"}})
	queue.NewProducer(rdb, queue.V2).Enqueue(ctx, usage.Report{ID: "ok", ServiceID: "s", AppID: "a", Usage: map[string]int64{"hits": 1}})
	reg := prometheus.NewRegistry()
	w, _ := New(rdb, Config{Format: queue.V2, Concurrency: 1, Consumer: "t", Block: 20 * time.Millisecond, Logger: quiet}, reg)
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for rdb.XLen(ctx, queue.V2Stream).Val() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("stream not drained within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if f := counterValue(t, reg, "apisonator_worker_job_failures_total"); f != 1 {
		t.Errorf("failures = %v, want 1", f)
	}
	if tot, _ := usage.NewStore(rdb).Totals(context.Background(), "s", "a"); tot["hits"] != 1 {
		t.Errorf("hits = %d, want the valid job applied", tot["hits"])
	}
}

func benchReport(i int) usage.Report {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return usage.Report{
		ID:        hex.EncodeToString(b),
		ServiceID: "bench",
		AppID:     fmt.Sprintf("app-%d", i%100),
		Usage:     map[string]int64{"hits": 1, "search": 1},
		Timestamp: time.Now(),
	}
}

// BenchmarkApply is one job's apply against a real Redis, as a worker does
// it per format: v1 applies blindly, v2 applies once per report id.
func BenchmarkApply(b *testing.B) {
	rdb := redistest.Start(b).Client(b)
	store := usage.NewStore(rdb)
	ctx := context.Background()
	for _, f := range queue.Formats {
		b.Run(string(f), func(b *testing.B) {
			reports := make([]usage.Report, b.N)
			for i := range reports {
				reports[i] = benchReport(i)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if _, err := store.Apply(ctx, reports[i], f == queue.V2); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkJob is a whole job, one at a time: take, decode, apply,
// acknowledge.
func BenchmarkJob(b *testing.B) {
	ctx := context.Background()
	for _, f := range queue.Formats {
		b.Run(string(f), func(b *testing.B) {
			rdb := redistest.Start(b).Client(b)
			fill(b, rdb, f, b.N)
			reg := prometheus.NewRegistry()
			w, err := New(rdb, Config{Format: f, Concurrency: 1, Consumer: "bench", Logger: quiet}, reg)
			if err != nil {
				b.Fatal(err)
			}
			c, err := queue.NewConsumer(ctx, rdb, f, queue.ConsumerOptions{Name: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				j, err := c.Take(ctx)
				if err != nil || j == nil {
					b.Fatalf("Take = %v, %v", j, err)
				}
				w.process(ctx, c, j)
			}
		})
	}
}

// BenchmarkWorkerThroughput runs a worker of concurrency 8 over b.N queued
// jobs; ns/op is wall time per job, so 1e9/ns_op is jobs/s per process.
func BenchmarkWorkerThroughput(b *testing.B) {
	for _, f := range queue.Formats {
		b.Run(string(f), func(b *testing.B) {
			rdb := redistest.Start(b).Client(b)
			fill(b, rdb, f, b.N)
			reg := prometheus.NewRegistry()
			w, err := New(rdb, Config{Format: f, Concurrency: 8, Consumer: "bench", Logger: quiet}, reg)
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			b.ResetTimer()
			done := make(chan error)
			go func() { done <- w.Run(ctx) }()
			for counterValue(b, reg, "apisonator_worker_job_count") < float64(b.N) {
				time.Sleep(time.Millisecond)
			}
			b.StopTimer()
			cancel()
			<-done
		})
	}
}

// fill queues n jobs of format f through the format's producer.
func fill(b *testing.B, rdb redis.UniversalClient, f queue.Format, n int) {
	b.Helper()
	ctx := context.Background()
	p := queue.NewProducer(rdb, f)
	for i := range n {
		if err := p.Enqueue(ctx, benchReport(i)); err != nil {
			b.Fatal(err)
		}
	}
}
