package scenario

import (
	"strings"
	"testing"
	"time"
)

// objectsGood is good with the two object assertions added.
const objectsGood = good + `    - name: taskrun-latency
      objectLatency:
        resource: taskruns.tekton.dev/v1
        percentiles: {p50: 10s, p90: 20s, p99.9: 30s}
    - name: taskrun-status
      objectLatency: {resource: taskruns.tekton.dev, to: status, selector: app=load, percentiles: {p99: 5s}}
    - name: taskrun-disruption
      objectDisruption: {resource: taskruns.tekton.dev/v1, chaos: kill_one, deadline: 30s, tolerance: 0.1}
`

func TestObjectAssertions(t *testing.T) {
	s, err := Parse([]byte(objectsGood), nil)
	if err != nil {
		t.Fatal(err)
	}
	l := s.Spec.Assertions[5].ObjectLatency
	if l.Condition != "Succeeded" || l.To != "condition" || l.Percentiles["p99.9"].Duration != 30*time.Second {
		t.Errorf("objectLatency defaults %+v", l)
	}
	if st := s.Spec.Assertions[6].ObjectLatency; st.To != "status" || st.Selector != "app=load" {
		t.Errorf("objectLatency to status %+v", st)
	}
	d := s.Spec.Assertions[7].ObjectDisruption
	if d.Replicas != 3 || d.Condition != "Succeeded" || d.To != "condition" || d.Deadline.Duration != 30*time.Second {
		t.Errorf("objectDisruption defaults %+v (replicas from spec.system.components.controller)", d)
	}
	for key, want := range map[string]float64{"p50": 50, "p99.9": 99.9, "p100": 100} {
		if p, ok := ParsePercentile(key); !ok || p != want {
			t.Errorf("ParsePercentile(%q) = %g, %v", key, p, ok)
		}
	}
	for _, bad := range []string{"p0", "p101", "50", "p", "P50", "p50s"} {
		if _, ok := ParsePercentile(bad); ok {
			t.Errorf("ParsePercentile(%q) must fail", bad)
		}
	}
}

func TestObjectAssertionErrors(t *testing.T) {
	cases := []struct {
		name     string
		old, new string
		want     []string
	}{
		{"no resource", "resource: taskruns.tekton.dev/v1\n", "", []string{"spec.assertions[5].objectLatency.resource: required"}},
		{"bad resource", "resource: taskruns.tekton.dev/v1\n", "resource: TaskRun\n", []string{"spec.assertions[5].objectLatency.resource: want RESOURCE[.GROUP][/VERSION]"}},
		{"no percentiles", "        percentiles: {p50: 10s, p90: 20s, p99.9: 30s}\n", "", []string{"spec.assertions[5].objectLatency.percentiles: at least one bound required"}},
		{"bad percentile", "p90: 20s", "p900: 20s", []string{"spec.assertions[5].objectLatency.percentiles.p900: not a percentile"}},
		{"zero bound", "p90: 20s", "p90: 0s", []string{"spec.assertions[5].objectLatency.percentiles.p90: bound must be > 0"}},
		{"bad bound", "p90: 20s", "p90: soon", []string{"spec.assertions[5].objectLatency.percentiles.p90 (line 43): want a duration"}},
		{"to", "to: status", "to: done", []string{`spec.assertions[6].objectLatency.to: must be condition (the condition True) or status (the first status), got "done"`}},
		{"selector", "selector: app=load", "selector: 'app in (('", []string{"spec.assertions[6].objectLatency.selector: not a label selector"}},
		{"condition", "to: status", "condition: 'Succeeded=True'", []string{"spec.assertions[6].objectLatency.condition: must be a condition type"}},
		{"unknown field", "to: status", "bounds: {p50: 1s}", []string{"spec.assertions[6].objectLatency.bounds (line 45): unknown field (known: condition, percentiles, resource, selector, to)"}},
		{"two kinds", "      objectDisruption:", "      throughput: {floor: 1}\n      objectDisruption:", []string{"spec.assertions[7]: exactly one of query, throughput, evenDistribution, disruption, noLoss, coreUtilization, exclusiveOwnership, objectLatency, objectDisruption must be set, got 2"}},
		{"disruption chaos", "chaos: kill_one, deadline: 30s", "chaos: nope, deadline: 30s", []string{`spec.assertions[7].objectDisruption.chaos: no chaos action named "nope"`}},
		{"disruption no chaos", "chaos: kill_one, deadline: 30s", "deadline: 30s", []string{"spec.assertions[7].objectDisruption.chaos: required"}},
		{"disruption deadline", "chaos: kill_one, deadline: 30s", "chaos: kill_one", []string{"spec.assertions[7].objectDisruption.deadline: required and > 0"}},
		{"disruption tolerance", "tolerance: 0.1}", "tolerance: 1}", []string{"spec.assertions[7].objectDisruption.tolerance: must be in [0, 1), got 1"}},
		{"disruption upgrade replicas", "chaos: kill_one, deadline: 30s", "chaos: upgrade, deadline: 30s", []string{"spec.assertions[7].objectDisruption.replicas: required when the action is not a pod action"}},
		{"disruption resource", "objectDisruption: {resource: taskruns.tekton.dev/v1,", "objectDisruption: {", []string{"spec.assertions[7].objectDisruption.resource: required"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(objectsGood, tc.old, tc.new, 1)
			if src == objectsGood {
				t.Fatalf("test case replaces nothing: %q", tc.old)
			}
			_, err := Parse([]byte(src), nil)
			if err == nil {
				t.Fatal("Parse accepted a bad scenario")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestFillReplicas: a disruption whose replicas neither the file nor
// spec.system.components says takes them from the overlay's workload;
// one the file says keeps them; a component the overlay lacks, or has with
// no replicas, is an error naming the field.
func TestFillReplicas(t *testing.T) {
	const src = `apiVersion: perfrun/v1
kind: Scenario
metadata: {name: fill}
spec:
  system: {overlay: fixtures/x}
  load: {script: fixtures/load/smoke.js, duration: 10s}
  chaos:
    - {name: fail_one, at: 2s, podFailure: {component: ctl, ordinal: 1, duration: 5s}}
    - {name: kill_one, at: 2s, podKill: {component: ctl}}
  assertions:
    - {name: d1, objectDisruption: {resource: taskruns.tekton.dev/v1, chaos: fail_one, deadline: 10s}}
    - {name: d2, disruption: {chaos: kill_one, deadline: "1"}}
    - {name: d3, disruption: {chaos: kill_one, deadline: "1", replicas: 5}}
`
	s, err := Parse([]byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.FillReplicas(func(c string) (int32, bool) { return 3, c == "ctl" }); err != nil {
		t.Fatal(err)
	}
	a := s.Spec.Assertions
	if got := []int32{a[0].ObjectDisruption.Replicas, a[1].Disruption.Replicas, a[2].Disruption.Replicas}; got[0] != 3 || got[1] != 3 || got[2] != 5 {
		t.Errorf("replicas after fill = %v, want [3 3 5]", got)
	}

	s, _ = Parse([]byte(src), nil)
	err = s.FillReplicas(func(string) (int32, bool) { return 0, false })
	for _, want := range []string{
		`spec.assertions[0].objectDisruption.replicas: not set, and the overlay has no workload "ctl"`,
		`spec.assertions[1].disruption.replicas: not set, and the overlay has no workload "ctl"`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("fill from an overlay without ctl: %v; want %q", err, want)
		}
	}
	s, _ = Parse([]byte(src), nil)
	if err := s.FillReplicas(func(string) (int32, bool) { return 0, true }); err == nil || !strings.Contains(err.Error(), "the overlay's ctl has no replicas (0)") {
		t.Errorf("fill from a workload with 0 replicas: %v", err)
	}
}
