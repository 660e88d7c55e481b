package objects

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

func TestLatency(t *testing.T) {
	watched := Record{Name: "a", Seen: at(0.4), Created: at(0), FirstStatus: at(0.9), FirstStatusTransition: at(0),
		Conditions: []Condition{{Type: "Succeeded", Done: at(3.4), DoneTransition: at(3)}}}
	if d, ok := watched.Latency(ToStatus, ""); !ok || d != 500*time.Millisecond {
		t.Errorf("status latency = %v, %v; want 0.5s on the watcher's clock", d, ok)
	}
	if d, ok := watched.Latency(ToCondition, "Succeeded"); !ok || d != 3*time.Second {
		t.Errorf("condition latency = %v, %v; want 3s", d, ok)
	}
	if _, ok := watched.Latency(ToCondition, "Ready"); ok {
		t.Error("a condition the object never had must not be reached")
	}
	listed := watched
	listed.Listed = true
	if d, ok := listed.Latency(ToCondition, "Succeeded"); !ok || d != 3*time.Second || !listed.Start().Equal(at(0)) {
		t.Errorf("listed latency = %v, %v; want the API server's 3s", d, ok)
	}
	running := Record{Name: "b", Seen: at(1), Conditions: []Condition{{Type: "Succeeded", Failed: at(4), Reason: "Failed"}}}
	if _, ok := running.Latency(ToCondition, "Succeeded"); ok || !running.Failed("Succeeded") {
		t.Error("a failed object never reaches Succeeded=True and counts as failed")
	}
	secs, never, failed := Latencies([]Record{watched, running, {Name: "c", Seen: at(2)}}, ToCondition, "Succeeded")
	if len(secs) != 3 || secs[0] != 3 || !math.IsInf(secs[1], 1) || !math.IsInf(secs[2], 1) || never != 2 || failed != 1 {
		t.Errorf("Latencies = %v never %d failed %d", secs, never, failed)
	}
}

func TestPercentile(t *testing.T) {
	v := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for p, want := range map[float64]float64{50: 5, 90: 9, 99: 10, 100: 10, 1: 1} {
		if got := Percentile(v, p); got != want {
			t.Errorf("p%g = %g, want %g", p, got, want)
		}
	}
	if got := Percentile([]float64{1, math.Inf(1)}, 99); !math.IsInf(got, 1) {
		t.Errorf("p99 with a never-done object = %g, want +Inf", got)
	}
	if !math.IsNaN(Percentile(nil, 50)) {
		t.Error("no values: NaN")
	}
}

func TestParseResource(t *testing.T) {
	cases := map[string][3]string{
		"taskruns.tekton.dev/v1":        {"taskruns", "tekton.dev", "v1"},
		"taskruns.tekton.dev":           {"taskruns", "tekton.dev", ""},
		"pods/v1":                       {"pods", "", "v1"},
		"pods":                          {"pods", "", ""},
		"leases.coordination.k8s.io/v1": {"leases", "coordination.k8s.io", "v1"},
		"widgets.x.io/v1beta2":          {"widgets", "x.io", "v1beta2"},
	}
	for in, want := range cases {
		r, g, v, err := ParseResource(in)
		if err != nil || [3]string{r, g, v} != want {
			t.Errorf("ParseResource(%q) = %q %q %q %v, want %q", in, r, g, v, err, want)
		}
	}
	for _, bad := range []string{"", "TaskRuns", "tekton.dev/v1/taskruns", "taskruns/1", "taskruns..x"} {
		if _, _, _, err := ParseResource(bad); err == nil {
			t.Errorf("ParseResource(%q) must fail", bad)
		}
	}
}

func TestSummarize(t *testing.T) {
	// Two replicas split five leases; b restarts at 10s and a takes
	// everything over by 12s.
	var spans []LeaseSpan
	for i, l := range []string{"l0", "l1", "l2", "l3", "l4"} {
		if i < 3 {
			spans = append(spans, LeaseSpan{Lease: l, Holder: "ctl-b_u1", From: at(0), To: at(10)},
				LeaseSpan{Lease: l, Holder: "ctl-a_u2", From: at(12), To: at(48), Open: true})
		} else {
			spans = append(spans, LeaseSpan{Lease: l, Holder: "ctl-a_u2", From: at(0), To: at(48), Open: true})
		}
	}
	s := Summarize(spans)
	if s.Leases != 5 || len(s.Holders) != 2 {
		t.Fatalf("summary %+v", s)
	}
	a, b := s.Holders[0], s.Holders[1]
	if a.Pod != "ctl-a" || a.AtEnd != 5 || a.Leases != 5 || !a.Since.Equal(at(12)) || a.HeldSeconds != 3*36+2*48 {
		t.Errorf("holder a %+v", a)
	}
	if b.Pod != "ctl-b" || b.AtEnd != 0 || b.Leases != 3 || !b.Last.Equal(at(10)) {
		t.Errorf("holder b %+v", b)
	}
	got := s.Describe(t0)
	want := "ctl-a held 5/5 leases from 12s to the end (48s); ctl-b held 3/5 until 10s"
	if got != want {
		t.Errorf("Describe = %q, want %q", got, want)
	}
	if d := Summarize(nil).Describe(t0); !strings.Contains(d, "no lease") {
		t.Errorf("empty: %q", d)
	}
}

// Knative's leader election gives each Lease its own identity
// (POD_UUID per elector): one pod holding five Leases is one holder.
func TestSummarizeGroupsIdentitiesByPod(t *testing.T) {
	var spans []LeaseSpan
	for i, l := range []string{"hook.a.00-of-01", "hook.b.00-of-01", "hook.c.00-of-01"} {
		spans = append(spans, LeaseSpan{Lease: l, Holder: fmt.Sprintf("webhook-7d-xx5wn_%d", i), From: at(0), To: at(30), Open: true})
	}
	s := Summarize(spans)
	if len(s.Holders) != 1 || s.Holders[0].Pod != "webhook-7d-xx5wn" || s.Holders[0].Identities != 3 || s.Holders[0].AtEnd != 3 {
		t.Fatalf("summary %+v", s)
	}
	if got, want := s.Describe(t0), "webhook-7d-xx5wn held 3/3 leases from 0s to the end (30s)"; got != want {
		t.Errorf("Describe = %q, want %q", got, want)
	}
}
