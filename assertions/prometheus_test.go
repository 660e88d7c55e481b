package assertions

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/model"

	"github.com/perfrun/perfrun/collectors"
	"github.com/perfrun/perfrun/internal/promtest"
	"github.com/perfrun/perfrun/scenario"
)

// TestAgainstRealPrometheus serves counters that move at known rates, lets
// a real Prometheus scrape them, and checks that the ready-made and custom
// assertions read them back as they should.
func TestAgainstRealPrometheus(t *testing.T) {
	reg := prometheus.NewRegistry()
	reqs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "apisonator_listener_response_codes", Help: "test"},
		[]string{"namespace", "pod", "request_type", "resp_code"})
	recs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "perfrun_controller_reconciles_total", Help: "test"},
		[]string{"namespace", "pod"})
	// Keys with more than one reconciler: none in ns; 42 in split for a
	// while inside the window, then 0 again (as if Redis had lost it): the
	// highest over the window counts; in le only under leader election.
	shared := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "perfrun_controller_items_shared", Help: "test"},
		[]string{"namespace", "mode"})
	shared.WithLabelValues("ns", "statefulset").Set(0)
	shared.WithLabelValues("split", "statefulset").Set(0)
	shared.WithLabelValues("le", "leader-election").Set(3)
	reg.MustRegister(reqs, recs, shared)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	url := promtest.Start(t, l.Addr().String())

	// 1000 ok/s on pod a and 500 ok/s on pod b, 100 errors/s; reconciles
	// 30/s on a and 10/s on b: max/mean = 30/20 = 1.5.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	load, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-load.Done():
				return
			case <-tick.C:
				reqs.WithLabelValues("ns", "a", "authrep", "2xx").Add(100)
				reqs.WithLabelValues("ns", "b", "authrep", "2xx").Add(50)
				reqs.WithLabelValues("ns", "b", "authrep", "5xx").Add(10)
				recs.WithLabelValues("ns", "a").Add(3)
				recs.WithLabelValues("ns", "b").Add(1)
			}
		}
	}()
	client, err := api.NewClient(api.Config{Address: url})
	if err != nil {
		t.Fatal(err)
	}
	prom := v1.NewAPI(client)
	// The window starts once Prometheus has the series, as a run's load
	// starts after the system is deployed and scraped.
	for deadline := time.Now().Add(20 * time.Second); ; {
		v, _, _, err := prom.Query(ctx, `count_over_time(perfrun_controller_reconciles_total[1m])`, time.Now())
		if err == nil && v.String() != "" && len(v.(model.Vector)) == 2 && v.(model.Vector)[0].Value >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus has not scraped the test endpoint twice in 20s: %v %v", v, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	start := time.Now()
	time.Sleep(3 * time.Second)
	shared.WithLabelValues("split", "statefulset").Set(42)
	time.Sleep(2500 * time.Millisecond)
	shared.WithLabelValues("split", "statefulset").Set(0)
	time.Sleep(2500 * time.Millisecond)
	stop() // the load ends with the window, as a run's does
	end := time.Now()
	time.Sleep(1500 * time.Millisecond) // a scrape after the window

	e := &Evaluator{Q: prom}
	w := scenario.Window{Start: start, End: end, Namespace: "ns"}
	var specs []Spec
	for _, a := range []scenario.Assertion{
		{Name: "throughput", Throughput: &scenario.Throughput{Floor: 1000, Skip: scenario.D(2 * time.Second)}},
		{Name: "throughput-too-high", Throughput: &scenario.Throughput{Floor: 5000}},
		{Name: "even", EvenDistribution: &scenario.EvenDistribution{Max: 1.7}},
		{Name: "uneven", EvenDistribution: &scenario.EvenDistribution{Max: 1.2}},
		{Name: "errors-range", Query: `sum(rate(apisonator_listener_response_codes{namespace="{{.namespace}}",resp_code="5xx"}[3s]))`, Op: "<", Bound: ptr(200.0),
			Range: &scenario.Range{Step: scenario.D(time.Second), Skip: scenario.D(4 * time.Second), Reduce: "max"}},
		{Name: "missing", Query: `nonexistent_metric{namespace="{{.namespace}}"}`, Op: "<", Bound: ptr(1.0)},
		{Name: "missing-range", Query: `nonexistent_metric{namespace="{{.namespace}}"}`, Op: "<", Bound: ptr(1.0), Range: &scenario.Range{Step: scenario.D(time.Second), Reduce: "max"}},
		{Name: "bad-promql", Query: `sum(`, Op: "<", Bound: ptr(1.0)},
	} {
		s, ok := Resolve(a)
		if !ok {
			t.Fatalf("%s not resolved", a.Name)
		}
		specs = append(specs, s)
	}
	res := e.Evaluate(context.Background(), specs, w)
	byName := map[string]Result{}
	for _, r := range res {
		byName[r.Name] = r
		t.Logf("%-20s %-5s value=%s bound=%s%g err=%s\n  %s", r.Name, r.Status, FormatValue(r.Value), r.Op, r.Bound, r.Error, r.Query)
	}
	within := func(name string, lo, hi float64, status string) {
		t.Helper()
		r := byName[name]
		if r.Status != status {
			t.Errorf("%s: status %s, want %s (%s)", name, r.Status, status, r.Error)
		}
		if r.Value == nil || *r.Value < lo || *r.Value > hi {
			t.Errorf("%s: value %s, want in [%g, %g]", name, FormatValue(r.Value), lo, hi)
		}
		if len(r.Series) == 0 {
			t.Errorf("%s: no series recorded", name)
		}
	}
	// Throughput is counted from raw samples: 1500/s within the ticker's
	// granularity (one tick of 150 in 6s) and its lag on a busy machine.
	// PromQL's increase() over the same few scrapes read within ±20%.
	within("throughput", 1400, 1560, Pass)
	within("throughput-too-high", 1400, 1560, Fail)
	within("even", 1.35, 1.65, Pass)
	within("uneven", 1.35, 1.65, Fail)
	within("errors-range", 60, 140, Pass)
	if got := byName["errors-range"].Series[0].Points; len(got) < 3 {
		t.Errorf("errors-range: %d points, want one per second of the window", len(got))
	}
	// No series is an error, never a pass: "< 1" holds for nothing.
	for _, name := range []string{"missing", "missing-range"} {
		if r := byName[name]; r.Status != Error || !strings.Contains(r.Error, "no data") {
			t.Errorf("%s metric: %+v, want error (no data)", name, r)
		}
	}
	// And a drain query with no series is an error, not a drained queue.
	if _, err := collectors.WaitZero(ctx, prom, `sum(nonexistent_metric{namespace="ns"})`, 10*time.Second, 0, 100*time.Millisecond); !errors.Is(err, collectors.ErrNoSeries) {
		t.Errorf("drain query with no series: %v, want ErrNoSeries", err)
	}
	if d, err := collectors.WaitZero(ctx, prom, `sum(apisonator_listener_response_codes{namespace="ns",resp_code="5xx"}) * 0`, 10*time.Second, 0, 100*time.Millisecond); err != nil || !d.Zero {
		t.Errorf("drain query at 0: %+v %v", d, err)
	}
	if r := byName["bad-promql"]; r.Status != Error || r.Error == "" {
		t.Errorf("bad PromQL: %+v, want error", r)
	}

	// Exclusive ownership, per namespace: 0 passes, the 42 seen inside the
	// window fails although the count is back to 0 at its end, and a count
	// under leader election only is an error that says so.
	own := scenario.Assertion{Name: "one-owner", ExclusiveOwnership: &scenario.ExclusiveOwnership{}}
	for _, tc := range []struct {
		ns, status string
		value      float64
		errHas     string
	}{
		{"ns", Pass, 0, ""},
		{"split", Fail, 42, ""},
		{"le", Error, 0, `only with mode="leader-election"`},
	} {
		ow := w
		ow.Namespace = tc.ns
		r := KindOf(own).Evaluate(ctx, &Env{Q: prom, Window: ow, Metrics: scenario.ReferenceMetrics()}, own)
		t.Logf("exclusiveOwnership in %s: %s value=%s err=%s\n  %s", tc.ns, r.Status, FormatValue(r.Value), r.Error, r.Query)
		if r.Status != tc.status || (tc.errHas == "" && (r.Value == nil || *r.Value != tc.value)) || !strings.Contains(r.Error, tc.errHas) {
			t.Errorf("exclusiveOwnership in %s: %s value %s (%s), want %s %g %q", tc.ns, r.Status, FormatValue(r.Value), r.Error, tc.status, tc.value, tc.errHas)
		}
	}
}
