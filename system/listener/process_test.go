package listener_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/perfrun/perfrun/system/proctest"
	"github.com/perfrun/perfrun/system/queue"
	"github.com/perfrun/perfrun/system/redistest"
	"github.com/perfrun/perfrun/system/usage"
	"github.com/perfrun/perfrun/system/worker"
	"github.com/prometheus/client_golang/prometheus"
)

// TestSIGTERMFinishesInFlight runs the real bin/listener: under a steady
// stream of authreps it gets SIGTERM, and must exit 0 within the grace
// period having answered in full every request it processed. A request
// still in the kernel's accept queue when the socket closes is reset without
// being processed; that is not a broken answer, and the usage totals tell
// the two apart: what was applied must equal what was answered 200.
func TestSIGTERMFinishesInFlight(t *testing.T) {
	bin, err := proctest.Build(t.TempDir(), "github.com/perfrun/perfrun/system/cmd/listener")
	if err != nil {
		t.Fatal(err)
	}
	rs := redistest.Start(t)
	p := proctest.StartServing(t, bin, "-listen", "-redis", rs.URL(), "-queue", "v2", "-grace", "5s")
	base := "http://" + p.Addr
	e := &env{url: base}
	provision(t, e)

	q := base + "/transactions/authrep.xml?service_token=tok1&service_id=s1&app_id=a1&usage%5Bhits%5D=1"
	var (
		wg                sync.WaitGroup
		mu                sync.Mutex
		answered, refused int
		bad               []string
	)
	stop := make(chan struct{})
	for c := 0; c < 8; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// a fresh connection per request so that refusals after the
			// listener closes show as dial errors, not as broken responses
			client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
			for i := 0; i < 2000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get(q)
				if err != nil {
					mu.Lock()
					// refused (socket closed) or reset (queued, never
					// accepted): the request was not processed
					refused++
					mu.Unlock()
					continue
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				mu.Lock()
				if err != nil || resp.StatusCode != 200 || !strings.HasSuffix(string(b), "</status>") {
					bad = append(bad, fmt.Sprintf("%d %v %q", resp.StatusCode, err, b))
				} else {
					answered++
				}
				mu.Unlock()
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	if err := p.Term(t, 6*time.Second); err != nil {
		t.Errorf("listener exit after SIGTERM: %v\n%s", err, p.Output())
	}
	took := time.Since(start)
	close(stop)
	wg.Wait()
	if answered == 0 {
		t.Fatal("no request was answered before SIGTERM")
	}
	if len(bad) > 0 {
		t.Errorf("%d answers broken by the shutdown (want 0), first: %s", len(bad), bad[0])
	}
	// Every processed authrep was enqueued; drain and compare.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rdb := rs.Client(t)
	w, err := worker.New(rdb, worker.Config{Format: queue.V2, Concurrency: 2, Consumer: "w", Block: 50 * time.Millisecond}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = w.Run(ctx) }()
	proctest.Eventually(t, 10*time.Second, "queue drained", func() bool {
		n, err := queue.Depth(ctx, rdb, queue.V2)
		return err == nil && n == 0
	})
	tot, err := usage.NewStore(rdb).Totals(ctx, "s1", "a1")
	if err != nil {
		t.Fatal(err)
	}
	if tot["hits"] != int64(answered) {
		t.Errorf("applied hits %d != answered %d: a processed request lost its answer (or was counted twice)", tot["hits"], answered)
	}
	t.Logf("answered %d, not processed (refused/reset) %d, exit %v after SIGTERM", answered, refused, took)
}
