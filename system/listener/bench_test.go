package listener_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"

	"github.com/perfrun/perfrun/system/queue"
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
