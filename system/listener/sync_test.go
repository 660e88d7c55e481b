package listener_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/perfrun/perfrun/system/apisonator"
	"github.com/perfrun/perfrun/system/catalog"
	"github.com/perfrun/perfrun/system/internalapi"
	"github.com/perfrun/perfrun/system/listener"
	"github.com/perfrun/perfrun/system/queue"
	"github.com/perfrun/perfrun/system/redistest"
	"github.com/perfrun/perfrun/system/usage"
	"github.com/prometheus/client_golang/prometheus"
)

// held is an internal API route that holds its request for a while and
// records how many requests were inside it at once.
type held struct {
	hold          time.Duration
	in, most      atomic.Int32
	entered, left chan time.Time
}

func (h *held) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	n := h.in.Add(1)
	for m := h.most.Load(); n > m && !h.most.CompareAndSwap(m, n); m = h.most.Load() {
	}
	select {
	case h.entered <- time.Now():
	default:
	}
	time.Sleep(h.hold)
	h.in.Add(-1)
	select {
	case h.left <- time.Now():
	default:
	}
	w.WriteHeader(http.StatusNoContent)
}

// get is a GET for goroutines other than the test's.
func get(url string) (int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

// startSync serves a real listener against a real Redis, in sync mode or
// not, with /internal/held/ beside the internal API.
func startSync(t *testing.T, syncMode bool, h *held) *env {
	t.Helper()
	rs := redistest.Start(t)
	rdb := rs.Client(t)
	reg := prometheus.NewRegistry()
	cat, use := catalog.NewStore(rdb), usage.NewStore(rdb)
	internal := http.NewServeMux()
	internal.Handle("/internal/held/", h)
	internal.Handle("/", (&internalapi.API{Catalog: cat, Usage: use}).Handler())
	srv := listener.New(listener.Options{
		Transactor: &apisonator.Transactor{Catalog: cat, Usage: use, Queue: queue.NewProducer(rdb, queue.V2)},
		Metrics:    listener.NewMetrics(reg),
		Gatherer:   reg,
		Internal:   internal,
		Sync:       syncMode,
	})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	e := &env{url: hs.URL, rdb: rdb, reg: reg}
	provision(t, e)
	return e
}

const syncAuthrep = "/transactions/authrep.xml?service_token=tok1&service_id=s1&app_id=a1&usage%5Bhits%5D=1"

// In sync mode the process serves one request at a time: concurrent
// requests never overlap, an authrep waits for the request in hand to
// finish, and probes and /metrics are answered meanwhile. Without sync
// the same authrep is answered while the other request is still held.
func TestSyncServesOneRequestAtATime(t *testing.T) {
	for _, syncMode := range []bool{true, false} {
		t.Run(fmt.Sprintf("sync=%v", syncMode), func(t *testing.T) {
			h := &held{hold: 40 * time.Millisecond, entered: make(chan time.Time, 1), left: make(chan time.Time, 1)}
			e := startSync(t, syncMode, h)

			// Eight held requests at once.
			var wg sync.WaitGroup
			start := time.Now()
			for range 8 {
				wg.Go(func() {
					if code, err := get(e.url + "/internal/held/"); code != http.StatusNoContent {
						t.Errorf("held: %d %v", code, err)
					}
				})
			}
			wg.Wait()
			took := time.Since(start)
			if syncMode && (h.most.Load() != 1 || took < 8*h.hold) {
				t.Errorf("sync: %d requests at once at most, 8 took %v; want 1 at a time, at least %v", h.most.Load(), took, 8*h.hold)
			}
			if !syncMode && h.most.Load() < 2 {
				t.Errorf("async: at most %d request at once; want them concurrent", h.most.Load())
			}

			// An authrep (two Redis round trips) sent while a request is held.
			h.hold = 300 * time.Millisecond
			for _, c := range []chan time.Time{h.entered, h.left} { // what the eight left there
				select {
				case <-c:
				default:
				}
			}
			go get(e.url + "/internal/held/")
			entered := <-h.entered
			for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
				if code, _ := e.do(t, "GET", path, ""); code != http.StatusOK {
					t.Errorf("%s answered %d while a request was held", path, code)
				}
			}
			code, body := e.do(t, "GET", syncAuthrep, "")
			answered := time.Now()
			if code != http.StatusOK || !strings.Contains(body, "<authorized>true</authorized>") {
				t.Fatalf("authrep: %d %s", code, body)
			}
			left := <-h.left
			if syncMode && answered.Before(left) {
				t.Errorf("sync: the authrep was answered %v after the held request entered, before it left (%v)", answered.Sub(entered), left.Sub(entered))
			}
			if !syncMode && !answered.Before(left) {
				t.Errorf("async: the authrep waited for the held request (answered %v after it entered)", answered.Sub(entered))
			}
		})
	}
}

// Served one at a time, concurrent authreps are all answered and all
// counted.
func TestSyncAnswersEveryConcurrentAuthrep(t *testing.T) {
	h := &held{entered: make(chan time.Time, 1), left: make(chan time.Time, 1)}
	e := startSync(t, true, h)
	var (
		wg  sync.WaitGroup
		bad atomic.Int32
	)
	for range 32 {
		wg.Go(func() {
			if code, err := get(e.url + syncAuthrep); code != http.StatusOK {
				t.Errorf("authrep: %d %v", code, err)
				bad.Add(1)
			}
		})
	}
	wg.Wait()
	if bad.Load() != 0 {
		t.Errorf("%d of 32 concurrent authreps were not authorized", bad.Load())
	}
	// The answer keeps its framing: held whole, sent with its length.
	resp, err := http.Get(e.url + syncAuthrep)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ContentLength != int64(len(body)) || len(resp.TransferEncoding) != 0 ||
		resp.Header.Get("Content-Type") != "application/vnd.3scale-v2.0+xml" || !strings.Contains(string(body), "<authorized>true</authorized>") {
		t.Errorf("sync authrep: %d, length %d, transfer %v, type %q: %s", resp.StatusCode, resp.ContentLength, resp.TransferEncoding, resp.Header.Get("Content-Type"), body)
	}
	const line = `apisonator_listener_response_codes{request_type="authrep",resp_code="2xx"} 33`
	if _, metrics := e.do(t, "GET", "/metrics", ""); !strings.Contains(metrics, line+"\n") {
		t.Errorf("/metrics has no %s", line)
	}
}
