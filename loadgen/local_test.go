package loadgen

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/perfrun/perfrun/assertions"
	"github.com/perfrun/perfrun/collectors"
	"github.com/perfrun/perfrun/scenario"
)

// A local k6's thresholds and counters come from its summary: a crossed
// threshold fails, a held one passes, a tagged counter falls back to the
// whole counter when the summary has no such sub-metric.
func TestLocalRunReadsItsSummary(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, SummaryFile), []byte(`{"metrics":{
	  "backend_hits_accepted{metric:hits}":{"count":100,"thresholds":{"count==100":false}},
	  "backend_results":{"count":7},
	  "backend_call_duration":{"p(95)":900,"thresholds":{"p(95)<500":true}}}}`), 0o644)
	on := true
	r := &localRun{c: Config{Dir: dir, Load: scenario.Load{Thresholds: &on}}}
	r.summary, r.sumErr = collectors.ReadK6Summary(filepath.Join(dir, SummaryFile))
	got := map[string]assertions.Result{}
	for _, a := range r.Results(context.Background(), nil, r.start) {
		got[a.Name] = a
	}
	if a := got["k6:backend_call_duration:p(95)<500"]; a.Status != assertions.Fail {
		t.Errorf("crossed threshold: %+v", a)
	}
	if a := got["k6:backend_hits_accepted{metric:hits}:count==100"]; a.Status != assertions.Pass {
		t.Errorf("held threshold: %+v", a)
	}
	if v, err := r.Count(context.Background(), nil, "backend_hits_accepted{metric:hits}", r.start); err != nil || v != 100 {
		t.Errorf("tagged count = %g, %v", v, err)
	}
	if v, err := r.Count(context.Background(), nil, "backend_results{call:authrep}", r.start); err != nil || v != 7 {
		t.Errorf("count falling back to the whole counter = %g, %v", v, err)
	}
	if _, err := r.Count(context.Background(), nil, "nothing", r.start); err == nil {
		t.Error("a counter the summary lacks read without error")
	}
	off := false
	r.c.Load.Thresholds = &off
	if rs := r.Results(context.Background(), nil, r.start); len(rs) != 0 {
		t.Errorf("thresholds off: %d results", len(rs))
	}
}

// Both ways build k6's command line with the same builder: the harness's
// own -e win over the scenario's, the testid tag and remote write are set.
func TestInvocation(t *testing.T) {
	inv := invocation{testID: "abcd", remoteWrite: true, env: map[string]string{"RATE": "5", "TARGETS": "http://example.com"},
		own: map[string]string{"TARGETS": "http://198.19.0.5:3000"}, flags: []string{"--paused"}, tags: []string{"generator=1"}, script: "s.js"}
	got := inv.args()
	want := []string{"run", "--quiet", "--no-color", "--paused", "--tag", "testid=abcd", "--tag", "generator=1",
		"-o", "experimental-prometheus-rw", "-e", "RATE=5", "-e", "TARGETS=http://198.19.0.5:3000", "s.js"}
	if len(got) != len(want) {
		t.Fatalf("args %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("args %q, want %q", got, want)
		}
	}
	if e := k6Environ("http://p/api/v1/write", true); e["K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM"] != "true" || e["K6_NO_USAGE_REPORT"] != "true" {
		t.Errorf("generator environ %v", e)
	}
	if e := k6Environ("http://p/api/v1/write", false); e["K6_PROMETHEUS_RW_TREND_STATS"] != trendStats {
		t.Errorf("local environ %v", e)
	}
	if e := k6Environ("", false); len(e) != 1 {
		t.Errorf("no remote write: %v", e)
	}
}

// A threshold's verdict row carries what k6 measured, from a summary file
// as k6 writes it (trends in ms, a Rate's share as value, thresholds true
// when crossed), and k6's own verdict.
func TestThresholdResultShowsTheMeasuredValue(t *testing.T) {
	path := filepath.Join(t.TempDir(), SummaryFile)
	if err := os.WriteFile(path, []byte(`{"metrics": {
  "backend_call_duration{call:authrep}": {"avg": 1.9, "med": 1.2, "p(95)": 4.2, "p(99)": 7.5, "max": 30, "min": 0.3, "p(90)": 3,
    "thresholds": {"p(95)<100": false, "p(99)<5": true}},
  "checks": {"passes": 99, "fails": 1, "value": 0.99, "thresholds": {"rate==1": true}},
  "dropped_iterations": {"count": 3, "rate": 0.1, "thresholds": {"count<10": false}}
}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := collectors.ReadK6Summary(path)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]assertions.Result{}
	for _, th := range s.Thresholds() {
		p, err := ParseThreshold(th.Metric, th.Expr)
		if err != nil {
			t.Fatal(err)
		}
		r := ThresholdResult(p, th.Failed, s.Metrics[th.Metric].Values)
		got[th.Expr] = r
	}
	for expr, want := range map[string]struct{ measured, limit, status string }{
		"p(95)<100": {"p(95) = 4.2 ms", "< 100 ms", assertions.Pass},
		"p(99)<5":   {"p(99) = 7.5 ms", "< 5 ms", assertions.Fail},
		"rate==1":   {"rate = 0.99", "== 1", assertions.Fail},
		"count<10":  {"count = 3", "< 10", assertions.Pass},
	} {
		r := got[expr]
		if r.Measured() != want.measured || r.Limit() != want.limit || r.Status != want.status {
			t.Errorf("%s: %q %q %s, want %q %q %s", expr, r.Measured(), r.Limit(), r.Status, want.measured, want.limit, want.status)
		}
	}
}
