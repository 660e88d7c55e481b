package listener_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/perfrun/perfrun/system/proctest"
	"github.com/perfrun/perfrun/system/queue"
	"github.com/perfrun/perfrun/system/redistest"
)

// BenchmarkAuthrep measures one authrep through the whole handler against a
// real Redis (service token, user key, a usage of two metrics in a hierarchy,
// limits on the plan, the report enqueued). Run in parallel so the Redis
// round trips overlap, as under load: 50 requests in flight, as many as
// redis-benchmark's clients in the ceiling it is compared with.
func BenchmarkAuthrep(b *testing.B) {
	for _, f := range []queue.Format{queue.V1, queue.V2} {
		b.Run(string(f), func(b *testing.B) {
			e := startB(b, f)
			q := "/transactions/authrep.xml?service_token=tok1&service_id=s1&app_id=a1&usage%5Bsearch%5D=1"
			h := e.handler
			b.ReportAllocs()
			b.SetParallelism((50 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest(http.MethodGet, q, nil)
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					if rec.Code != 200 {
						b.Errorf("authrep = %d %s", rec.Code, rec.Body.String())
						return
					}
					_, _ = io.Copy(io.Discard, rec.Body)
				}
			})
			b.StopTimer()
			// keep the queue from growing across runs
			_ = e.rdb.FlushDB(b.Context()).Err()
		})
	}
}

// BenchmarkSyncCores is what -sync costs a process's core: authreps one at
// a time through the handler (as the sync listener takes them) against a
// real Redis, reporting the process's CPU per authrep (user+sys, the test
// process's own: handler and Redis client, Redis apart) and the cores it
// kept busy, CPU time over wall time. One at a time the process waits on
// two Redis round trips per authrep, so its cores stay well under 1; the
// core-utilization pair's known-bad mode rests on that.
func BenchmarkSyncCores(b *testing.B) {
	e := startB(b, queue.V2)
	q := "/transactions/authrep.xml?service_token=tok1&service_id=s1&app_id=a1&usage%5Bsearch%5D=1"
	cpu0, t0 := processCPU(b), time.Now()
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, q, nil))
		if rec.Code != 200 {
			b.Fatalf("authrep = %d %s", rec.Code, rec.Body.String())
		}
	}
	b.StopTimer()
	cpu, wall := processCPU(b)-cpu0, time.Since(t0)
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cores")
	_ = e.rdb.FlushDB(b.Context()).Err()
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkListenerCores runs the real bin/listener, async and -sync,
// under 50 authreps in flight over keep-alive HTTP against a real Redis,
// and reports the cores its process used (its own
// process_cpu_seconds_total, as coreUtilization reads it, over wall time)
// and its CPU per authrep. Async it takes what the machine gives it; sync
// it keeps only the share of each request that is its own CPU.
func BenchmarkListenerCores(b *testing.B) {
	bin, err := proctest.Build(b.TempDir(), "github.com/perfrun/perfrun/system/cmd/listener")
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"async", "sync"} {
		b.Run(mode, func(b *testing.B) {
			rs := redistest.Start(b)
			args := []string{"-redis", rs.URL(), "-queue", "v2"}
			if mode == "sync" {
				args = append(args, "-sync")
			}
			p := proctest.StartServing(b, bin, "-listen", args...)
			e := &env{url: "http://" + p.Addr}
			provision(b, e)
			e.must(b, "PUT", "/internal/services/s1/plans/p1/usagelimits/m2/minute", `{"usagelimit":{"minute":1000000000}}`, 200)
			q := e.url + "/transactions/authrep.xml?service_token=tok1&service_id=s1&app_id=a1&usage%5Bsearch%5D=1"
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 5 * time.Second}
			cpu0, t0 := p.Metric(b, "process_cpu_seconds_total"), time.Now()
			b.SetParallelism((50 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Get(q)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Errorf("authrep = %d", resp.StatusCode)
						return
					}
				}
			})
			b.StopTimer()
			cpu, wall := p.Metric(b, "process_cpu_seconds_total")-cpu0, time.Since(t0).Seconds()
			b.ReportMetric(cpu/wall, "cores")
			b.ReportMetric(cpu*1e6/float64(b.N), "cpu-µs/op")
		})
	}
}
