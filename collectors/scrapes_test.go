package collectors

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/perfrun/perfrun/internal/promtest"
)

// TestScrapes runs a real Prometheus against one pod that serves metrics
// and one whose scrapes fail: the first is counted once per scrape, the
// second never (its scrapes keep no samples), and another namespace's pod
// is not the run's.
func TestScrapes(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "# TYPE served_total counter\nserved_total 1")
	}))
	defer ok.Close()
	failing := httptest.NewServer(http.NotFoundHandler())
	defer failing.Close()
	addr := func(s *httptest.Server) string { return s.Listener.Addr().String() }
	prom := promtest.StartTargets(t,
		promtest.Target{Addr: addr(ok), Labels: map[string]string{"namespace": "run", "pod": "up-0"}},
		promtest.Target{Addr: addr(failing), Labels: map[string]string{"namespace": "run", "pod": "down-0"}},
		promtest.Target{Addr: addr(ok), Labels: map[string]string{"namespace": "other", "pod": "else-0"}},
	)
	c, err := api.NewClient(api.Config{Address: prom})
	if err != nil {
		t.Fatal(err)
	}
	q := v1.NewAPI(c)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var n map[string]int
	for n["up-0"] < 3 {
		if n, err = Scrapes(ctx, q, "run", time.Minute, time.Now()); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("up-0 not scraped 3 times within 30s: %v", n)
		case <-time.After(200 * time.Millisecond):
		}
	}
	if _, found := n["down-0"]; found {
		t.Errorf("a pod whose scrapes fail counted as scraped: %v", n)
	}
	if _, found := n["else-0"]; found {
		t.Errorf("another namespace's pod counted: %v", n)
	}

	// The last scrape is the newest raw sample's time, not the query's:
	// evaluated a moment ago, it is what a range selector holds last.
	at := time.Now().Add(-300 * time.Millisecond)
	last, err := LastScrapes(ctx, q, "run", at)
	if err != nil {
		t.Fatal(err)
	}
	raw, _, _, err := q.Query(ctx, `scrape_samples_post_metric_relabeling{namespace="run",pod="up-0"}[10s]`, at)
	if err != nil {
		t.Fatal(err)
	}
	m, isMatrix := raw.(model.Matrix)
	if !isMatrix || len(m) != 1 || len(m[0].Values) == 0 {
		t.Fatalf("raw samples of up-0: %v", raw)
	}
	if want := m[0].Values[len(m[0].Values)-1].Timestamp.Time(); !last["up-0"].Equal(want) {
		t.Errorf("last scrape of up-0 at %v = %v, want its newest sample's time %v", at, last["up-0"], want)
	}

	// It moves on with the scrapes; down-0 has none that kept samples.
	since := time.Now()
	for {
		last, err := LastScrapes(ctx, q, "run", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if _, found := last["down-0"]; found {
			t.Errorf("a pod whose scrapes fail has a last scrape: %v", last)
		}
		if last["up-0"].After(since) {
			break
		}
		if time.Since(since) > 5*time.Second {
			t.Fatalf("up-0's last scrape still %v, 5 s after %v", last["up-0"], since)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
